"""Training objectives of a batch of models, all from :mod:`imm_ray.core`, each plus
``0.5 * l2 * |params|^2`` (docs/method.md, 'The induced model and the IMM objective' and
'Baselines').

Model ``m`` has its own training rows (design ``f [n, P]``, labels ``y [n]``), restricted
model rows ``Pbar(. | x_i)`` ``[n, C]``, induced model over its training pool and ratio
``r_m``:

- ``none``: ``L_main``, the mean log-loss of ``Q(y_i | x_i, xb_i)``;
- ``imm``: ``core.mix_losses(L_main, core.imm_loss(pair logits, Pbar), r)``, where the
  induced model of row ``i`` averages ``Q(. | x_i, xb_j)`` over the pool rows ``j`` of
  :class:`Induced` (all rows, ``x_i``'s group, or its nearest neighbours);
- ``reverse_kd``: ``core.mix_losses(L_main, core.reverse_kd_loss(logits, Pbar), r)``;
- ``noising``: each ``xb_i`` replaced with probability ``r`` by a pool member drawn from
  the same induced conditional, ``y_i`` kept, in expectation:
  ``(1 - r) L_main + r mean_i sum_j pi_ij logloss(y_i | x_i, xb_j)`` (deterministic, so
  BFGS applies; the limit of redrawing the corruption every epoch).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from imm_ray import core
from imm_ray.tabular.config import METHODS  # noqa: F401 (defined torch-free, for the flags)

PAIR_METHODS = ("imm", "noising")
"""Methods whose objective pairs rows with pool members (``[M, n, k, C]`` logits)."""


@dataclass
class Induced:
    """``pi(xb_j | x_i)`` over each model's training pool.

    ``index [M, n, k]``: the pool rows paired with row ``i`` (None: all ``n`` rows, ``k = n``);
    ``weights [M, n, k]``: their probabilities, rows summing to 1 (None: uniform ``1/k``).
    """

    index: Tensor | None = None
    weights: Tensor | None = None

    def pairs_per_model(self, n: int) -> int:
        k = n if self.index is None else self.index.shape[-1]
        return n * k

    def take(self, idx: Tensor) -> Induced:
        return Induced(None if self.index is None else self.index[idx],
                       None if self.weights is None else self.weights[idx])


def log_likelihood(logits: Tensor, y: Tensor) -> Tensor:
    """``log softmax(logits)[y]``: ``[..., C]``, ``[...]`` int64 -> ``[...]`` (as
    ``logits[y] - logsumexp(logits)``: no ``[..., C]`` log-softmax tensor is kept)."""
    if logits.shape[-1] == 2:  # -softplus(l_other - l_y): one fused op instead of four
        d = logits[..., 1] - logits[..., 0]
        return -F.softplus(torch.where(y == 1, -d, d))
    return logits.gather(-1, y.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, -1)


@dataclass
class Objective:
    """Per-model objectives of a batch: ``(params [A, p], idx [A]) -> [A]``."""

    method: str
    model: object
    """:class:`imm_ray.tabular.models.LinearSoftmax` or ``MLP``."""
    features: Tensor
    """``[M, n, P]`` design rows."""
    y: Tensor
    """``[M, n]`` int64 labels."""
    restricted_probs: Tensor
    """``[M, n, C]`` ``Pbar(. | x_i)``."""
    induced: Induced
    ratio: Tensor
    """``[M]`` ratio of each model."""
    l2: float

    def __call__(self, params: Tensor, idx: Tensor) -> Tensor:
        f, y = self.features[idx], self.y[idx]
        logits = self.model.logits(params, f)  # [A, n, C]
        main = -log_likelihood(logits, y).mean(-1)
        penalty = 0.5 * self.l2 * (params * params).sum(-1)
        if self.method == "none":
            return main + penalty
        extra = self.extra(params, idx, f, y, logits)
        return core.mix_losses(main, extra, self.ratio[idx]) + penalty

    def extra(self, params: Tensor, idx: Tensor, f: Tensor, y: Tensor,
              logits: Tensor) -> Tensor:
        """The method's second term, ``[A]``."""
        pbar = self.restricted_probs[idx]
        if self.method == "reverse_kd":
            return core.reverse_kd_loss(logits, pbar, reduction="none").mean(-1)
        induced = self.induced.take(idx)
        pair = self.model.pair_logits(params, f, induced.index)  # [A, n, k, C]
        if self.method == "imm":
            return core.imm_loss(pair, pbar, sample_weights=induced.weights,
                                 reduction="none").mean(-1)
        if self.method == "noising":
            nll = -log_likelihood(pair, y.unsqueeze(-1).expand(pair.shape[:-1]))  # [A, n, k]
            per_i = nll.mean(-1) if induced.weights is None else (nll * induced.weights).sum(-1)
            return per_i.mean(-1)
        raise ValueError(f"unknown method {self.method!r}; choose from {METHODS}")
