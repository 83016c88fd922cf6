"""The two estimators of the induced model ``Qbar(. | v)`` for a causal LM.

The restricted context of a position is its previous token ``v``; the induced model is the
full model averaged over the histories that end in ``v``:
``Qbar(y | v) = E_{h ~ pi(h | v)} Q(y | h)`` (docs/method.md, 'Estimating the induced model').

- ``sampled`` (the paper's): ``k`` windows of ``L`` tokens ending at random occurrences of
  ``v`` in the training stream (:class:`imm_ray.lm.histories.HistorySampler`), one extra
  ``[N*k, L]`` forward, logits at each window's last position. Unbiased for the mean of
  ``Q`` over the corpus histories of ``v`` (cut to ``L`` tokens).
- ``in_batch``: every position of the current batch whose token is ``v`` is already a
  draw from ``pi(. | v)``, and the main loss has its logits. :func:`in_batch_samples`
  takes up to ``k`` of them (plus, optionally, detached logits of recent batches from a
  :class:`LogitBuffer`) with no extra forward. What it estimates: ``Qbar`` under the
  batch's own histories of ``v``. Where it is biased: a token seen once in the batch gives
  ``Qbar = Q`` at that one position, i.e. reverse KD for rare tokens; histories within a
  batch are correlated (same documents); buffered logits come from older weights. The
  ``log`` of a mean over few samples is biased low (Jensen), so the IMM loss is biased
  high when groups are small, as for ``sampled`` with small ``k``.

Both return ``[M, k, V]`` sample logits (and ``[M, k]`` weights for ``in_batch``) that
go to :func:`imm_ray.core.imm_loss`; the formula itself lives only there.
"""

from __future__ import annotations

import torch
from torch import Tensor

from imm_ray.lm.hf.checks import ESTIMATORS  # noqa: F401 (defined torch-free there)


def choose_positions(valid: Tensor, m: int, generator: torch.Generator | None) -> Tensor:
    """``[P]`` bool -> indices of up to ``m`` valid positions drawn without replacement
    (all of them when ``m`` is 0 or at least their number); an unbiased estimate of the
    per-position average."""
    idx = valid.nonzero().squeeze(-1)
    if 0 < m < len(idx):
        pick = torch.randperm(len(idx), generator=generator)[:m].to(idx.device)
        idx = idx[pick]
    return idx


def in_batch_samples(logits: Tensor, tokens: Tensor, contexts: Tensor, k: int,
                     generator: torch.Generator | None = None,
                     extra_logits: Tensor | None = None, extra_tokens: Tensor | None = None
                     ) -> tuple[Tensor, Tensor]:
    """Samples of ``Q(. | h)`` over the batch histories ``h`` that end in each context's token.

    Args:
        logits: ``[P, V]`` logits at the batch's positions (with grad).
        tokens: ``[P]`` the token at each position (its restricted context ``v``).
        contexts: ``[M]`` indices into ``P``: the positions whose IMM term is computed.
        k: at most this many positions per context (a random subset when more share ``v``).
        extra_logits, extra_tokens: optional ``[Q, V]`` detached logits and ``[Q]`` tokens
            of recent batches, pooled with the current ones.

    Returns:
        ``([M, k, V]`` sample logits, ``[M, k]`` weights ``1/m`` on the ``m = min(count, k)``
        real samples and 0 on padding).
    """
    if logits.dim() != 2 or tokens.shape != logits.shape[:1]:
        raise ValueError(f"logits must be [P, V] and tokens [P], got {tuple(logits.shape)} "
                         f"and {tuple(tokens.shape)}")
    if extra_logits is not None and len(extra_logits):
        logits = torch.cat([logits, extra_logits.to(logits.dtype).detach()])
        tokens = torch.cat([tokens, extra_tokens.to(tokens.device)])
    order = torch.randperm(len(tokens), generator=generator).to(tokens.device)
    order = order[torch.sort(tokens[order], stable=True).indices]  # by token, random within
    sorted_tokens = tokens[order]
    v = tokens[contexts]
    start = torch.searchsorted(sorted_tokens, v)
    count = torch.searchsorted(sorted_tokens, v, right=True) - start  # >= 1: v itself
    j = torch.arange(k, device=tokens.device)
    m = count.clamp(max=k).unsqueeze(1)  # [M, 1]
    real = j < m  # [M, k]
    pick = order[start.unsqueeze(1) + torch.where(real, j, 0)]
    weights = real.to(logits.dtype) / m.to(logits.dtype)
    return logits[pick], weights


class LogitBuffer:
    """The last ``capacity`` (detached) logits rows and their tokens, for ``in_batch``."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.logits: Tensor | None = None
        self.tokens: Tensor | None = None

    def push(self, logits: Tensor, tokens: Tensor, generator=None) -> None:
        if self.capacity <= 0:
            return
        if len(tokens) > self.capacity:
            keep = torch.randperm(len(tokens), generator=generator)[: self.capacity]
            logits, tokens = logits[keep.to(logits.device)], tokens[keep.to(tokens.device)]
        logits = logits.detach().float()
        if self.logits is not None:
            logits = torch.cat([self.logits, logits])[-self.capacity:]
            tokens = torch.cat([self.tokens, tokens])[-self.capacity:]
        self.logits, self.tokens = logits, tokens
