"""The induced model's conditional ``pi(xb_j | x_i)`` over a table's training pool.

IMM compares the restricted model with the full model averaged over the extra features
``xb`` that go with a restricted value ``x`` (docs/method.md, 'Estimating the induced model').
On a table only the ``n`` training rows' extras are known, so ``pi`` is an empirical
conditional over them (:class:`imm_ray.tabular.objective.Induced`), one of:

- ``pool``: every training row's extras, uniformly (right when ``xb`` is independent of
  ``x``; the exact empirical induced model of the toy);
- ``groups``: the rows with the same restricted values as row ``i`` (discrete columns);
- ``neighbours``: row ``i``'s ``k`` nearest training rows in the standardised restricted
  columns, itself included: a k-NN estimate of the conditional when ``x`` is continuous.
  Unless set, ``k = max(ceil(n / 2), min(n, 10))``: a coarse conditional (half the pool,
  and the whole pool up to n = 10). Measured (docs/tabular.md): small neighbourhoods make
  the induced model too noisy to help (breast cancer, 40 seeds, n = 7: IMM's best test
  log-loss 0.256 with k = ceil(sqrt(n)) = 3, 0.211 with the pool), while half the pool
  matches the pool from n = 12 on; on the toy with ``rho = 0.9`` conditioning on 2 bins of
  ``x`` beats the pool (0.415 vs 0.422 at n = 50) and 8 bins loses to 2.

``auto`` (:func:`choose`) uses ``pool`` unless some extra column is correlated with a
restricted one (``|Pearson r| >= 0.3`` over the table's feature values; labels are not
looked at), and then ``groups`` if every restricted column is discrete, else ``neighbours``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from imm_ray.tabular import seeding
from imm_ray.tabular.config import TabularConfig
from imm_ray.tabular.data import Table
from imm_ray.tabular.encoding import design, fit_stats
from imm_ray.tabular.objective import Induced

DEPENDENCE = 0.3
"""``auto``: extras count as dependent on the restricted columns from this ``|r|`` on."""


def max_correlation(table: Table) -> float:
    """Largest ``|Pearson r|`` between a restricted and an extra design column (one-hot
    blocks included) over all rows; constant columns count as uncorrelated."""
    idx_r, idx_e = table.restricted_index, table.extra_index
    cols_r = [table.columns[i] for i in idx_r]
    cols_e = [table.columns[i] for i in idx_e]
    xr, xe = table.values[:, idx_r].unsqueeze(0), table.values[:, idx_e].unsqueeze(0)
    dr = design(xr, cols_r, *fit_stats(xr, cols_r))[0, :, 1:]
    de = design(xe, cols_e, *fit_stats(xe, cols_e))[0, :, 1:]
    corr = torch.corrcoef(torch.cat([dr, de], 1).T)[: dr.shape[1], dr.shape[1]:]
    return float(torch.nan_to_num(corr, nan=0.0).abs().max())


def choose(table: Table, cfg: TabularConfig) -> str:
    """The induced model to use: ``cfg.induced`` or, for ``auto``, the rule above."""
    discrete = all(table.columns[i].discrete for i in table.restricted_index)
    if cfg.induced == "groups" and not discrete:
        bad = [table.columns[i].name for i in table.restricted_index
               if not table.columns[i].discrete]
        raise ValueError(f"--induced groups needs discrete restricted columns; {bad} are "
                         "continuous (use --induced neighbours)")
    if cfg.induced != "auto":
        return cfg.induced
    if max_correlation(table) < DEPENDENCE:
        return "pool"
    return "groups" if discrete else "neighbours"


def num_neighbours(cfg: TabularConfig, n: int) -> int:
    """``k`` of ``neighbours`` at training size ``n``."""
    k = cfg.num_neighbours or max(math.ceil(n / 2), min(n, 10))
    if k > n:
        raise ValueError(f"--num-neighbours {k} is more than the n = {n} training rows")
    return k


def groups(values: Tensor) -> Induced:
    """``[S, n, r]`` restricted values -> uniform weights over equal rows ``[S, n, n]``."""
    same = (values.unsqueeze(2) == values.unsqueeze(1)).all(-1).to(torch.float64)
    return Induced(weights=same / same.sum(-1, keepdim=True))


def neighbours(points: Tensor, k: int) -> Induced:
    """``[S, n, q]`` standardised restricted encodings -> ``index [S, n, k]`` of each row's
    ``k`` nearest rows (ties by row order; a row is its own nearest)."""
    dist = torch.cdist(points, points)
    return Induced(index=torch.argsort(dist, dim=-1, stable=True)[..., :k])


def subsample(index: Tensor, k: int, seeds) -> Tensor:
    """``[S, n, K]`` members -> a fixed random ``k`` of them per row ``[S, n, k]`` (seed ``s``'s
    draw from stream ``induced``): the Monte-Carlo induced model of docs/method.md,
    'Estimating the induced model'."""
    out = []
    for members, seed in zip(index, seeds, strict=True):
        g = torch.Generator().manual_seed(int(seeding.rng("induced", int(seed)).integers(2**62)))
        pick = torch.rand(members.shape, generator=g).argsort(-1)[..., :k]
        out.append(members.gather(-1, pick))
    return torch.stack(out)


def build(kind: str, raw_restricted: Tensor, design_restricted: Tensor,
          cfg: TabularConfig, seeds) -> Induced:
    """The cell's :class:`Induced` from the training rows' restricted values ``[S, n, r]``
    and their design columns ``[S, n, R]`` (intercept first); pool and neighbourhoods
    larger than ``cfg.induced_samples`` (when > 0) are subsampled to it."""
    s, n = raw_restricted.shape[:2]
    if kind == "groups":
        return groups(raw_restricted)
    if kind == "pool":
        index = torch.arange(n).expand(s, n, n)
    elif kind == "neighbours":
        index = neighbours(design_restricted[..., 1:], num_neighbours(cfg, n)).index
    else:
        raise ValueError(f"--induced must be one of pool, groups, neighbours, auto; got "
                         f"{kind!r}")
    k = cfg.induced_samples
    if k and index.shape[-1] > k:
        return Induced(index=subsample(index, k, seeds))
    return Induced() if kind == "pool" else Induced(index=index)
