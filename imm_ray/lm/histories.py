"""Extended contexts for the LM induced model: training-corpus windows ending in a word.

For the restricted context "previous word = v", an extended context is the window of the
last ``L`` tokens ending at a random occurrence of ``v`` in the training corpus
(docs/method.md, 'Estimating the induced model'). Positions are grouped by their word once with
:class:`imm_ray.samplers.EmpiricalGroups` (the token -> positions index); only positions
``p >= L - 1`` are indexed, so a window never crosses the corpus start.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from imm_ray.samplers import EmpiricalGroups


class HistorySampler:
    """Draw ``k`` length-``L`` history windows ending with each requested word.

    Args:
        corpus: ``[n]`` token ids the histories come from.
        length: ``L``, tokens per window (the requested word is the last one).
    """

    def __init__(self, corpus, length: int):
        self.corpus = torch.as_tensor(np.asarray(corpus), dtype=torch.long)
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"length must be an integer >= 1, got {length!r}")
        if len(self.corpus) < length:
            raise ValueError(f"corpus has {len(self.corpus)} tokens, fewer than the history "
                             f"length {length}")
        self.length = length
        ends = torch.arange(length - 1, len(self.corpus))  # window end positions
        self.groups = EmpiricalGroups(self.corpus[ends], contexts=ends)
        self._offsets = torch.arange(1 - length, 1)  # [L]

    def available(self, words: Tensor) -> Tensor:
        """``[...]`` -> bool ``[...]``: the word ends at least one window."""
        return self.groups.group_sizes(words.long().cpu()) > 0

    def sample_positions(self, words: Tensor, k: int, generator=None) -> Tensor:
        """``[...]`` words -> ``[..., k]`` end positions ``p`` with ``corpus[p] == word``."""
        ends, _ = self.groups.sample(words.long().cpu(), k, generator=generator)
        return ends

    def sample(self, words: Tensor, k: int, generator=None) -> Tensor:
        """``[...]`` words -> ``[..., k, L]`` windows ``corpus[p - L + 1 : p + 1]``."""
        ends = self.sample_positions(words, k, generator)
        return self.corpus[ends.unsqueeze(-1) + self._offsets]
