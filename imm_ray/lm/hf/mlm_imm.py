"""The IMM term on a masked LM's masked positions (the paper's BERT experiment).

A masked position ``p`` of a sequence ``x`` is predicted by the full model from the whole
masked sequence ``h``: ``Q(y | h)``. Its restricted context is the token before it,
``v = x[p - 1]`` (the original token, masked or not), and the restricted model a
Kneser-Ney bigram on token ids, ``Pbar(y | v)``, renormalised over the tokens a mask can
hide (special tokens are never masked, so they get no mass: :func:`maskable_probs`). The
induced model is ``Qbar(y | v) = E_{h ~ pi(h | v)} Q(y | h)``, estimated

- ``sampled`` (the paper's, k = 5): :class:`MaskedContextSampler` draws ``k`` training
  sequences with a maskable token after a ``v``, masks it, crops a window of ``L`` tokens
  around it; one extra MLM forward of the ``[N*k, L]`` windows, logits at the masks;
- ``in_batch``: the batch's other masked positions with the same ``v``
  (:func:`imm_ray.lm.hf.induced.in_batch_samples`), no extra forward; with few masks per
  batch most groups hold one sample, and the term is then reverse KD at that position.

Both give ``[N, k, V]`` logits for :func:`imm_ray.core.imm_loss`; the formula lives there.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from imm_ray import core
from imm_ray.lm.hf import induced
from imm_ray.lm.hf.restricted import padded_probs

ESTIMATORS = induced.ESTIMATORS


def mask_tokens(input_ids: Tensor, maskable: Tensor, rate: float, mask_id: int,
                vocab_size: int, generator: torch.Generator | None = None
                ) -> tuple[Tensor, Tensor]:
    """BERT's masking: each maskable token is chosen with probability ``rate``; a chosen
    token becomes ``mask_id`` (80%), a random token (10%) or stays (10%).

    Args:
        input_ids: ``[B, T]`` token ids.
        maskable: ``[B, T]`` bool, False on special and padding tokens.

    Returns:
        (``[B, T]`` masked input ids, ``[B, T]`` bool: the chosen positions).
    """
    if not 0.0 < rate < 1.0:
        raise ValueError(f"mask_rate must be in (0, 1), got {rate!r}")
    if maskable.shape != input_ids.shape:
        raise ValueError(f"maskable must be {tuple(input_ids.shape)}, got "
                         f"{tuple(maskable.shape)}")
    u = torch.rand(input_ids.shape, generator=generator).to(input_ids.device)
    r = torch.rand(input_ids.shape, generator=generator).to(input_ids.device)
    rand = torch.randint(vocab_size, input_ids.shape, generator=generator).to(input_ids.device)
    chosen = maskable & (u < rate)
    out = torch.where(chosen & (r < 0.8), mask_id, input_ids)
    out = torch.where(chosen & (r >= 0.8) & (r < 0.9), rand, out)
    return out, chosen


def maskable_probs(restricted, prev: Tensor, width: int, special_ids: Tensor) -> Tensor:
    """``[N]`` previous tokens -> ``[N, width]`` rows of ``Pbar(y | v)`` with the special
    tokens' mass removed and each row renormalised (what a masked position can hold)."""
    probs = padded_probs(restricted, prev, width).clone()
    probs[:, special_ids.to(probs.device)] = 0.0
    return probs / probs.sum(-1, keepdim=True).clamp_min(torch.finfo(probs.dtype).tiny)


def in_batch_imm(mask_logits: Tensor, prev: Tensor, contexts: Tensor, probs: Tensor, k: int,
                 generator: torch.Generator | None = None) -> Tensor:
    """IMM at some of the batch's masked positions, ``Qbar`` from all of them.

    Args:
        mask_logits: ``[M, V]`` MLM logits at the masked positions (with grad).
        prev: ``[M]`` the token before each masked position (its restricted context).
        contexts: ``[N]`` indices into ``M``: the positions with an IMM term.
        probs: ``[N, V]`` ``Pbar(. | prev[contexts])``.
        k: at most this many positions per context make its ``Qbar``.
    """
    samples, weights = induced.in_batch_samples(mask_logits, prev, contexts, k, generator)
    return core.imm_loss(samples, probs, weights)


class MaskedContextSampler:
    """Histories of a restricted context ``v``: training sequences whose token after some
    ``v`` is maskable, that token masked, cropped to ``length`` tokens around it.

    Args:
        sequences: the training examples' token ids (special tokens included).
        token_types: their ``token_type_ids`` (pairs), or None.
        special_ids: ids never masked (CLS, SEP, PAD, ...).
        mask_id, pad_id: the tokenizer's mask and padding ids.
        length: ``L``, tokens per window (the masked token near its middle).
    """

    def __init__(self, sequences, token_types, special_ids, mask_id: int, pad_id: int,
                 length: int):
        if isinstance(length, bool) or not isinstance(length, int) or length < 2:
            raise ValueError(f"imm_length must be an integer >= 2, got {length!r}")
        lens = np.asarray([len(s) for s in sequences])
        width = int(lens.max())
        self.ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
        self.types = np.zeros_like(self.ids)
        for i, s in enumerate(sequences):
            self.ids[i, : len(s)] = s
            if token_types is not None:
                self.types[i, : len(s)] = token_types[i]
        self.lens, self.length, self.mask_id, self.pad_id = lens, length, mask_id, pad_id
        ok = np.isin(self.ids, np.asarray(list(special_ids)), invert=True)
        ok[:, 0] = False
        ok &= np.arange(width)[None, :] < lens[:, None]
        rows, cols = ok.nonzero()
        prev = self.ids[rows, cols - 1]
        order = np.argsort(prev, kind="stable")
        self.occ_rows, self.occ_cols, self.occ_prev = rows[order], cols[order], prev[order]

    def available(self, prev: Tensor) -> Tensor:
        """``[N]`` -> ``[N]`` bool: contexts with at least one history."""
        v = prev.cpu().numpy()
        lo = np.searchsorted(self.occ_prev, v)
        hi = np.searchsorted(self.occ_prev, v, side="right")
        return torch.as_tensor(hi > lo)

    def sample(self, prev: Tensor, k: int, generator: torch.Generator | None = None
               ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``[N]`` available contexts -> ``[N*k, L]`` window ids, attention mask and token
        types, and ``[N*k]`` the masked position in each window."""
        v = np.repeat(prev.cpu().numpy(), k)
        lo = np.searchsorted(self.occ_prev, v)
        count = np.searchsorted(self.occ_prev, v, side="right") - lo
        u = torch.rand(len(v), generator=generator, dtype=torch.float64).numpy()
        pick = lo + np.minimum((u * count).astype(np.int64), count - 1)
        rows, cols = self.occ_rows[pick], self.occ_cols[pick]
        span = np.minimum(self.lens[rows], self.length)
        start = np.clip(cols - self.length // 2, 0, self.lens[rows] - span)
        offs = np.arange(self.length)[None, :]
        idx = np.minimum(start[:, None] + offs, self.ids.shape[1] - 1)
        inside = offs < span[:, None]
        ids = np.where(inside, self.ids[rows[:, None], idx], self.pad_id)
        types = np.where(inside, self.types[rows[:, None], idx], 0)
        where = cols - start
        ids[np.arange(len(v)), where] = self.mask_id
        return (torch.as_tensor(ids), torch.as_tensor(inside.astype(np.int64)),
                torch.as_tensor(types), torch.as_tensor(where))
