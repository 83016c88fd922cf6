"""Session-wide test settings and the fixtures several test folders share."""

import pytest
import torch

# Unit tests use tiny tensors: one intra-op thread avoids oversubscription stalls when
# the two cores are busy (measured 20 s vs 4 s for the README example under load).
# Sweeps run in subprocesses, where Ray sets each trial's thread count itself.
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray (loopback, no dashboard) per test module, shut down afterwards so later
    test modules (which check Ray is not running) start clean. ``build_algo()`` starts Ray
    on its own when none is running, so tests that build an algorithm ask for this."""
    import ray

    from imm_ray import sweep

    if not ray.is_initialized():
        sweep.start_local_ray(num_cpus=2, log_to_driver=False, configure_logging=False)
    yield ray
    if ray.is_initialized():
        ray.shutdown()
