"""Bigram Kneser-Ney data noising (Xie et al. 2017), the LM smoothing baseline.

Each token ``x_t`` (t >= 1 in a window) is replaced, with probability
``gamma(x_{t-1}) = gamma0 * N1+(x_{t-1}, .) / c(x_{t-1})`` (capped at 1), by a draw from
the continuation distribution ``q(w) ∝ N1+(., w)`` of the same KN bigram
(docs/method.md, 'Baselines').
The noised stream supplies both inputs and targets, as in the paper.
"""

from __future__ import annotations

import torch
from torch import Tensor

from imm_ray.restricted.kneser_ney import KneserNeyBigram


class BigramNoiser:
    """Noise token windows with the statistics of a fitted :class:`KneserNeyBigram`."""

    def __init__(self, kn: KneserNeyBigram, gamma0: float):
        if not 0 <= gamma0 <= 1:
            raise ValueError(f"noise_gamma (gamma0) must be in [0, 1], got {gamma0!r}")
        c = kn.context_counts.double().clamp(min=1)
        self.gamma = (gamma0 * kn.successor_types.double() / c).clamp(max=1).float()  # [V]
        self.q = kn.pcont.double()  # [V] continuation distribution

    def noise(self, tokens: Tensor, generator=None) -> tuple[Tensor, Tensor]:
        """``[B, T+1]`` stream -> (noised ``[B, T+1]``, replaced mask ``[B, T+1]``).

        Position 0 of each row is kept (its predecessor is not in the window).
        """
        prev = tokens[:, :-1].cpu()
        rate = self.gamma[prev]
        hit = torch.rand(rate.shape, generator=generator) < rate
        draws = torch.multinomial(self.q, int(hit.sum()), replacement=True,
                                  generator=generator) if hit.any() else None
        out = tokens.clone().cpu()
        if draws is not None:
            out[:, 1:][hit] = draws
        mask = torch.zeros_like(out, dtype=torch.bool)
        mask[:, 1:] = hit
        return out.to(tokens.device), mask.to(tokens.device)
