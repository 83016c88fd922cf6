"""Session-wide test settings."""

import torch

# Unit tests use tiny tensors: one intra-op thread avoids oversubscription stalls when
# the two cores are busy (measured 20 s vs 4 s for the README example under load).
# Sweeps run in subprocesses, where Ray sets each trial's thread count itself.
torch.set_num_threads(1)
