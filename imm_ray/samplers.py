"""Generic extended-context samplers, all batched tensor code (docs/method.md,
'Estimating the induced model').

- :class:`EnumeratedConditional`: a known finite ``pi(xb | x)``, returned whole with its
  weights (the grid-world belief over the 11 rows of a column).
- :class:`IndependentPool`: ``xb`` independent of ``x``; draw from (or take all of) a pool
  of observed ``xb`` (the logistic toy).
- :class:`EmpiricalGroups`: the empirical conditional of a dataset keyed by a discrete
  restricted context (tabular rows, or token positions keyed by the previous word).
- :class:`NearestNeighbours`: the ``k`` pooled rows whose continuous restricted context is
  nearest (dependent features).
- :class:`BinnedGroups`: the empirical conditional within a bin of a discretised
  continuous restricted context (equal-count bins per feature).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")


def _check_index(restricted: Tensor, size: int, name: str) -> None:
    if restricted.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"{name} must be an integer tensor, got {restricted.dtype}")
    if restricted.numel() and (restricted.min() < 0 or restricted.max() >= size):
        raise ValueError(f"{name} values must be in [0, {size}), got range "
                         f"[{restricted.min().item()}, {restricted.max().item()}]")


class EnumeratedConditional:
    """A known finite conditional: every extended context of ``x`` with its weight.

    Args:
        contexts: ``[X, k, ...]`` the k extended contexts of each of X restricted values.
        weights: ``[X, k]`` ``pi(xb_j | x)``, rows summing to 1 (None: uniform).
    """

    def __init__(self, contexts: Tensor, weights: Tensor | None = None):
        from imm_ray.core import check_probs

        if contexts.dim() < 2:
            raise ValueError(f"contexts must be [X, k, ...], got {tuple(contexts.shape)}")
        if weights is not None:
            if tuple(weights.shape) != tuple(contexts.shape[:2]):
                raise ValueError(f"weights must be [X, k]={tuple(contexts.shape[:2])}, got "
                                 f"{tuple(weights.shape)}")
            check_probs(weights, "weights")
        self.contexts, self.weights = contexts, weights

    @property
    def k(self) -> int:
        return self.contexts.shape[1]

    def sample(self, restricted_contexts: Tensor, k: int | None = None, generator=None):
        """``[...]`` integer x -> ``([..., k, ...], [..., k] or None)``; no randomness."""
        if k is not None and k != self.k:
            raise ValueError(f"k={k} but this conditional enumerates exactly {self.k} contexts")
        _check_index(restricted_contexts, self.contexts.shape[0], "restricted_contexts")
        idx = restricted_contexts.to(self.contexts.device).long()
        w = None if self.weights is None else self.weights[idx]
        return self.contexts[idx], w


def concat_features(restricted: Tensor, extra: Tensor) -> Tensor:
    """``[..., dx]`` and ``[..., k, dxb]`` -> ``[..., k, dx + dxb]`` full feature rows."""
    x = restricted.unsqueeze(-2).expand(*extra.shape[:-1], restricted.shape[-1])
    return torch.cat([x, extra.to(restricted.dtype)], dim=-1)


class IndependentPool:
    """``pi(xb | x) = pi(xb)``: extended contexts pair ``x`` with pooled ``xb`` rows.

    Args:
        pool: ``[P, dxb]`` observed extra features (e.g. the training set's ``xb``).
        combine: ``(x [..., dx], xb [..., k, dxb]) -> [..., k, ...]``; default
            :func:`concat_features`.
    """

    def __init__(self, pool: Tensor, combine=concat_features):
        if pool.dim() < 2 or pool.shape[0] < 1:
            raise ValueError(f"pool must be [P >= 1, dxb], got {tuple(pool.shape)}")
        self.pool, self.combine = pool, combine

    def sample(self, restricted_contexts: Tensor, k: int | None, generator=None):
        """``[..., dx]`` -> ``[..., k, ...]``; ``k=None`` pairs every x with the whole pool
        (the exact empirical induced model), otherwise k draws with replacement."""
        batch = restricted_contexts.shape[:-1]
        if k is None:
            extra = self.pool.expand(*batch, *self.pool.shape)
        else:
            _check_k(k)
            idx = torch.randint(self.pool.shape[0], (*batch, k), generator=generator,
                                device=self.pool.device)
            extra = self.pool[idx]
        return self.combine(restricted_contexts, extra), None


class EmpiricalGroups:
    """Empirical ``pi(xb | x)`` of a dataset keyed by a discrete restricted context.

    Rows are grouped once (a stable sort); drawing k members of each queried group is
    one vectorised gather.

    Args:
        keys: ``[P]`` integer restricted context of each dataset row (e.g. the previous
            word at each corpus position).
        contexts: ``[P, ...]`` what to return for a drawn row (feature rows, or corpus
            positions the caller turns into history windows). Default: the row indices.
    """

    def __init__(self, keys: Tensor, contexts: Tensor | None = None):
        if keys.dim() != 1 or keys.numel() == 0:
            raise ValueError(f"keys must be a non-empty 1-D tensor, got {tuple(keys.shape)}")
        if keys.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"keys must be an integer tensor, got {keys.dtype}")
        if contexts is not None and contexts.shape[0] != keys.shape[0]:
            raise ValueError(f"contexts has {contexts.shape[0]} rows but keys has "
                             f"{keys.shape[0]}")
        self.order = torch.argsort(keys, stable=True)
        self.values, self.counts = torch.unique_consecutive(keys[self.order], return_counts=True)
        self.starts = torch.cumsum(self.counts, 0) - self.counts
        self.contexts = contexts

    def group_sizes(self, restricted_contexts: Tensor) -> Tensor:
        """``[...]`` -> ``[...]`` number of dataset rows with each key (0 if unseen)."""
        pos = torch.searchsorted(self.values, restricted_contexts).clamp(max=len(self.values) - 1)
        found = self.values[pos] == restricted_contexts
        return torch.where(found, self.counts[pos], torch.zeros_like(self.counts[pos]))

    def sample(self, restricted_contexts: Tensor, k: int, generator=None):
        """``[...]`` integer keys -> ``([..., k, ...], None)``, k uniform draws per group."""
        _check_k(k)
        keys = restricted_contexts.to(self.values.device).long()
        pos = torch.searchsorted(self.values, keys).clamp(max=len(self.values) - 1)
        missing = self.values[pos] != keys
        if bool(missing.any()):
            raise ValueError(f"restricted_contexts contains keys with no dataset rows, e.g. "
                             f"{keys[missing].unique()[:5].tolist()}")
        u = torch.rand((*keys.shape, k), generator=generator, device=keys.device)
        offset = (u * self.counts[pos].unsqueeze(-1)).long()  # uniform in [0, count)
        offset = torch.minimum(offset, self.counts[pos].unsqueeze(-1) - 1)
        rows = self.order[self.starts[pos].unsqueeze(-1) + offset]
        return (rows if self.contexts is None else self.contexts[rows]), None


def _check_keys(keys: Tensor, name: str = "keys") -> None:
    if keys.dim() != 2 or keys.shape[0] < 1 or not keys.is_floating_point():
        raise ValueError(f"{name} must be a non-empty float tensor [P, d], got "
                         f"{tuple(keys.shape)} {keys.dtype}")
    if not bool(torch.isfinite(keys).all()):
        raise ValueError(f"{name} must be finite")


class NearestNeighbours:
    """``pi(xb | x)`` approximated by the ``k`` pooled rows whose key is nearest to ``x``.

    Distances are Euclidean on keys standardised by the pool's per-feature standard
    deviation (``standardise=True``), so features on different scales count alike.
    Deterministic: ties go to the lower pool index.

    Args:
        keys: ``[P, d]`` restricted context of each pooled row.
        contexts: ``[P, ...]`` what to return for a chosen row (default: row indices).
    """

    def __init__(self, keys: Tensor, contexts: Tensor | None = None, standardise: bool = True,
                 chunk_elements: int = 1 << 22):
        _check_keys(keys)
        if contexts is not None and contexts.shape[0] != keys.shape[0]:
            raise ValueError(f"contexts has {contexts.shape[0]} rows but keys has "
                             f"{keys.shape[0]}")
        scale = keys.std(dim=0, unbiased=False) if standardise and keys.shape[0] > 1 else None
        self.scale = None if scale is None else torch.where(scale > 0, scale,
                                                            torch.ones_like(scale))
        self.keys = keys if self.scale is None else keys / self.scale
        self.contexts, self.chunk = contexts, chunk_elements

    def nearest(self, queries: Tensor, k: int) -> Tensor:
        """``[B, d]`` -> ``[B, k]`` pool indices, nearest first (chunked over B so that at
        most ``chunk_elements`` distances are held at once)."""
        _check_k(k)
        if k > self.keys.shape[0]:
            raise ValueError(f"k={k} neighbours but the pool has only {self.keys.shape[0]} "
                             "rows")
        if queries.dim() != 2 or queries.shape[1] != self.keys.shape[1]:
            raise ValueError(f"queries must be [B, d={self.keys.shape[1]}], got "
                             f"{tuple(queries.shape)}")
        q = queries.to(self.keys) if self.scale is None else queries.to(self.keys) / self.scale
        step = max(1, self.chunk // self.keys.shape[0])
        out = []
        for start in range(0, q.shape[0], step):
            d = torch.cdist(q[start:start + step], self.keys)  # [b, P]
            # stable sort: equal distances keep pool order (topk's tie order is unspecified)
            out.append(torch.sort(d, dim=1, stable=True).indices[:, :k])
        return torch.cat(out) if out else torch.zeros(0, k, dtype=torch.long)

    def sample(self, restricted_contexts: Tensor, k: int, generator=None):
        """``[B, d]`` -> ``([B, k, ...], None)``: the k nearest rows (no randomness)."""
        rows = self.nearest(restricted_contexts, k)
        return (rows if self.contexts is None else self.contexts[rows]), None


def quantile_edges(keys: Tensor, bins: int) -> Tensor:
    """``[d, bins - 1]`` inner edges giving each feature ``bins`` equal-count bins."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be an integer >= 1, got {bins!r}")
    q = torch.linspace(0, 1, bins + 1, dtype=torch.float64)[1:-1]
    return torch.quantile(keys.double(), q, dim=0).T.contiguous().to(keys.dtype)


class BinnedGroups:
    """``pi(xb | x)`` as the empirical conditional of pooled rows in ``x``'s bin.

    Each key feature is cut into ``bins`` equal-count bins at the pool's quantiles; a
    row's bin is the tuple of its feature bins. Drawing is :class:`EmpiricalGroups` keyed
    by the bin index (k uniform draws with replacement from the query's bin).

    Args:
        keys: ``[P, d]`` restricted context of each pooled row.
        contexts: ``[P, ...]`` returned for a drawn row (default: row indices).
        bins: bins per feature.
    """

    def __init__(self, keys: Tensor, contexts: Tensor | None = None, bins: int = 8):
        _check_keys(keys)
        self.edges = quantile_edges(keys, bins)  # [d, bins - 1]
        self.bins = bins
        self.groups = EmpiricalGroups(self.bin_of(keys), contexts)

    def bin_of(self, x: Tensor) -> Tensor:
        """``[B, d]`` -> ``[B]`` bin index ``sum_j b_j bins^j`` (``b_j`` = feature j's bin)."""
        if x.dim() != 2 or x.shape[1] != self.edges.shape[0]:
            raise ValueError(f"restricted contexts must be [B, d={self.edges.shape[0]}], got "
                             f"{tuple(x.shape)}")
        per_feature = torch.searchsorted(self.edges, x.to(self.edges).T.contiguous(),
                                         right=True)  # [d, B]: one sorted row per feature
        weights = self.bins ** torch.arange(x.shape[1], device=x.device)
        return (per_feature * weights[:, None]).sum(dim=0)

    def sample(self, restricted_contexts: Tensor, k: int, generator=None):
        """``[B, d]`` -> ``([B, k, ...], None)``; a query whose bin has no pooled row is a
        ValueError (pool the batch itself to rule that out)."""
        return self.groups.sample(self.bin_of(restricted_contexts), k, generator)
