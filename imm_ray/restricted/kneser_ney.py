"""Modified Kneser-Ney bigram ``Pbar(w | v)``: the LM restricted model
(docs/lm_ptb.md, 'The restricted model: a Kneser-Ney bigram').

With ``c(v, w)`` the bigram counts and ``N_c`` the number of distinct bigrams seen
exactly ``c`` times::

    Y = N1 / (N1 + 2 N2);  D1 = 1 - 2Y N2/N1;  D2 = 2 - 3Y N3/N2;  D3+ = 3 - 4Y N4/N3
    P(w | v) = max(c(v,w) - D(c(v,w)), 0) / c(v) + gamma(v) Pcont(w)
    gamma(v) = (D1 n1(v) + D2 n2(v) + D3+ n3+(v)) / c(v)
    Pcont(w) = |{v: c(v,w) > 0}| / |{(v,w): c(v,w) > 0}|

Edges: the token stream is read as circular, so the first token's predecessor is the
last one (``<eos>`` for a corpus of lines): every word of the stream then has a
continuation count and ``Pcont > 0``, and ``c(v)`` equals the unigram count. A vocabulary
word absent from the stream gets continuation pseudo-count 1 (so no row has a zero), and
its own row is ``Pcont``.

Storage is sparse (the sorted bigram codes ``v * V + w`` with their discounted terms)
plus the backoff vectors; :meth:`KneserNeyBigram.probs` materialises only requested rows.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


class KneserNeyBigram:
    """A fitted modified-KN bigram over ``vocab_size`` words; use :meth:`fit`."""

    def __init__(self, vocab_size: int, codes: np.ndarray, disc_terms: np.ndarray,
                 gamma: np.ndarray, pcont: np.ndarray, discounts: tuple[float, float, float],
                 context_counts: np.ndarray, successor_types: np.ndarray):
        self.num_classes = int(vocab_size)
        self.discounts = discounts
        self.codes = torch.as_tensor(codes, dtype=torch.long)  # [E] sorted v * V + w
        self.disc_terms = torch.as_tensor(disc_terms, dtype=torch.float32)  # [E]
        self.gamma = torch.as_tensor(gamma, dtype=torch.float32)  # [V]
        self.pcont = torch.as_tensor(pcont, dtype=torch.float32)  # [V]
        self.context_counts = torch.as_tensor(context_counts)  # [V] c(v)
        self.successor_types = torch.as_tensor(successor_types)  # [V] N1+(v, .)
        rows = self.codes // self.num_classes
        self.indptr = torch.zeros(self.num_classes + 1, dtype=torch.long)
        self.indptr[1:] = torch.cumsum(torch.bincount(rows, minlength=self.num_classes), 0)
        self.cols = self.codes % self.num_classes  # [E]

    @property
    def vocab_size(self) -> int:
        return self.num_classes

    @classmethod
    def fit(cls, token_ids, vocab_size: int) -> KneserNeyBigram:
        """Estimate from a 1-D stream of token ids in ``[0, vocab_size)``."""
        ids = np.asarray(token_ids, dtype=np.int64)
        if ids.ndim != 1 or len(ids) < 2:
            raise ValueError(f"token_ids must be 1-D with >= 2 tokens, got shape {ids.shape}")
        if ids.min() < 0 or ids.max() >= vocab_size:
            raise ValueError(f"token ids must be in [0, vocab_size={vocab_size}), got range "
                             f"[{ids.min()}, {ids.max()}]")
        v_ = np.roll(ids, 1)  # circular: the predecessor of ids[0] is ids[-1]
        codes, counts = np.unique(v_ * vocab_size + ids, return_counts=True)
        d = _discounts(counts)
        rows, cols = codes // vocab_size, codes % vocab_size
        c_v = np.bincount(rows, weights=counts, minlength=vocab_size)
        d_of = np.where(counts == 1, d[0], np.where(counts == 2, d[1], d[2]))
        mass = np.bincount(rows, weights=d_of, minlength=vocab_size)
        safe = np.maximum(c_v, 1)
        gamma = np.where(c_v > 0, mass / safe, 1.0)
        disc_terms = np.maximum(counts - d_of, 0) / safe[rows]
        cont = np.bincount(cols, minlength=vocab_size).astype(np.float64)
        cont[cont == 0] = 1.0  # words absent from the stream: pseudo-count 1
        succ = np.bincount(rows, minlength=vocab_size)
        return cls(vocab_size, codes, disc_terms, gamma, cont / cont.sum(),
                   tuple(float(x) for x in d),
                   c_v.astype(np.int64), succ)

    ARRAYS = ("codes", "disc_terms", "gamma", "pcont", "context_counts", "successor_types")

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything :meth:`from_arrays` needs, as plain numpy arrays (for ``np.savez``)."""
        out = {name: getattr(self, name).numpy() for name in self.ARRAYS}
        return {**out, "vocab_size": np.asarray(self.num_classes),
                "discounts": np.asarray(self.discounts, dtype=np.float64)}

    @classmethod
    def from_arrays(cls, arrays) -> KneserNeyBigram:
        """Inverse of :meth:`to_arrays` (a dict or an open ``np.load`` archive)."""
        d = tuple(float(x) for x in arrays["discounts"])
        return cls(int(arrays["vocab_size"]), *(arrays[n] for n in cls.ARRAYS[:4]), d,
                   *(arrays[n] for n in cls.ARRAYS[4:]))

    def probs(self, prev_tokens: Tensor) -> Tensor:
        """``[...]`` previous-word ids -> ``[..., V]`` float32 rows ``P(. | v)`` (sum 1).

        Only the distinct requested rows are built (``gamma(v) Pcont`` plus a scatter of
        the row's sparse discounted counts), then gathered back.
        """
        prev = torch.as_tensor(prev_tokens)
        self._check_ids(prev, "prev_tokens")
        flat = prev.reshape(-1).cpu().long()
        uniq, inverse = torch.unique(flat, return_inverse=True)
        out = self.gamma[uniq].unsqueeze(1) * self.pcont.unsqueeze(0)  # [U, V]
        starts, ends = self.indptr[uniq], self.indptr[uniq + 1]
        lengths = ends - starts
        row_of = torch.repeat_interleave(torch.arange(len(uniq)), lengths)
        offsets = torch.arange(int(lengths.sum())) - torch.repeat_interleave(
            torch.cumsum(lengths, 0) - lengths, lengths)
        entry = torch.repeat_interleave(starts, lengths) + offsets
        out.index_put_((row_of, self.cols[entry]), self.disc_terms[entry], accumulate=True)
        return out[inverse].reshape(*prev.shape, self.num_classes).to(prev.device)

    def log_prob(self, prev_tokens: Tensor, next_tokens: Tensor) -> Tensor:
        """``log P(next | prev)`` elementwise (float64), without building rows."""
        v, w = torch.as_tensor(prev_tokens), torch.as_tensor(next_tokens)
        self._check_ids(v, "prev_tokens")  # before .long(): float ids would be truncated
        self._check_ids(w, "next_tokens")
        v, w = v.long().cpu(), w.long().cpu()
        code = v * self.num_classes + w
        pos = torch.searchsorted(self.codes, code).clamp(max=len(self.codes) - 1)
        hit = self.codes[pos] == code
        disc = torch.where(hit, self.disc_terms[pos].double(), torch.zeros((), dtype=torch.double))
        return torch.log(disc + self.gamma[v].double() * self.pcont[w].double())

    def perplexity(self, token_ids) -> float:
        """``exp`` of the mean NLL of ``ids[1:]`` given ``ids[:-1]``."""
        ids = torch.as_tensor(np.asarray(token_ids), dtype=torch.long)
        return math.exp(-self.log_prob(ids[:-1], ids[1:]).mean().item())

    def _check_ids(self, ids: Tensor, name: str) -> None:
        if ids.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"{name} must be integer token ids, got {ids.dtype}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.num_classes):
            raise ValueError(f"{name} must be in [0, {self.num_classes}) (the bigram's "
                             f"vocabulary), got range [{int(ids.min())}, {int(ids.max())}]")


def _discounts(counts: np.ndarray) -> np.ndarray:
    """``(D1, D2, D3+)`` from count-of-counts; falls back to 0.5 when N1..N4 are missing."""
    n = [int((counts == c).sum()) for c in (1, 2, 3, 4)]
    if min(n) == 0:
        return np.array([0.5, 0.5, 0.5])  # degenerate tiny corpora: plain absolute discount
    y = n[0] / (n[0] + 2 * n[1])
    d = np.array([1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2]])
    return np.clip(d, 1e-3, None)
