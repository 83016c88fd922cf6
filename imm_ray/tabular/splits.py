"""Which rows of a table do what, per seed (the protocol of docs/tabular.md).

For seed ``s`` the rows are permuted once (stream ``split`` of :mod:`imm_ray.tabular.seeding`)
and cut into: a **test** split, a **validation** split, an **auxiliary** part for the
restricted model (``aux_fraction`` of the rest, fixed for the seed), and the **training
pool**, whose first ``n`` rows are the full model's ``n`` training rows (so training sets are
nested in ``n``). With ``aux_fraction = 0`` the restricted model is fitted on every pool row
that is not among the ``n`` training rows; with ``restricted_source = "train"`` on the ``n``
training rows themselves. The full model never sees auxiliary rows; test and validation
rows train nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from imm_ray.tabular import seeding
from imm_ray.tabular.config import TabularConfig

MIN_AUX_ROWS = 2
"""Fewest rows the restricted model may be fitted on."""


@dataclass(frozen=True)
class SplitSizes:
    rows: int
    test: int
    valid: int
    aux: int
    """Rows reserved for the restricted model (0 with aux_fraction 0 or source 'train')."""
    pool: int

    def max_n(self, cfg: TabularConfig) -> int:
        """Largest training size: the pool, less what the restricted model needs."""
        if cfg.restricted_source == "aux" and self.aux == 0:
            return self.pool - MIN_AUX_ROWS
        return self.pool

    def describe(self) -> str:
        return (f"{self.rows} rows: test {self.test}, validation {self.valid}, auxiliary "
                f"{self.aux}, training pool {self.pool}")


def split_sizes(num_rows: int, cfg: TabularConfig) -> SplitSizes:
    """The same counts for every seed."""
    test = max(1, round(num_rows * cfg.test_fraction))
    valid = max(1, round(num_rows * cfg.valid_fraction))
    rest = num_rows - test - valid
    aux = round(rest * cfg.aux_fraction) if cfg.restricted_source == "aux" else 0
    sizes = SplitSizes(num_rows, test, valid, aux, rest - aux)
    if cfg.restricted_source == "aux" and cfg.aux_fraction > 0 and aux < MIN_AUX_ROWS:
        raise ValueError(f"--aux-fraction {cfg.aux_fraction} leaves {aux} rows for the "
                         f"restricted model ({sizes.describe()}); raise it")
    if sizes.max_n(cfg) < 2:
        raise ValueError(f"too few rows to train on ({sizes.describe()}): lower "
                         "--test-fraction, --valid-fraction or --aux-fraction")
    return sizes


@dataclass(frozen=True)
class SeedSplit:
    """Row indices of one seed's splits."""

    test: Tensor
    valid: Tensor
    aux: Tensor
    pool: Tensor
    """The training pool in its seeded order: rows ``pool[:n]`` train at size ``n``."""

    def train(self, n: int) -> Tensor:
        return self.pool[:n]

    def restricted_rows(self, n: int, cfg: TabularConfig) -> Tensor:
        """The rows the restricted model is fitted on at training size ``n``."""
        if cfg.restricted_source == "train":
            return self.pool[:n]
        return self.aux if len(self.aux) else self.pool[n:]


def split_rows(sizes: SplitSizes, seed: int) -> SeedSplit:
    """Seed ``seed``'s splits (a pure function of the seed and the counts)."""
    perm = torch.as_tensor(seeding.rng("split", seed).permutation(sizes.rows))
    cuts = torch.tensor([sizes.test, sizes.valid, sizes.aux, sizes.pool]).cumsum(0).tolist()
    test, valid, aux, pool = (perm[a:b] for a, b in zip([0, *cuts[:-1]], cuts, strict=True))
    return SeedSplit(test, valid, aux, pool)


def check_sizes(sizes_n, split: SplitSizes, cfg: TabularConfig) -> None:
    """ValueError naming ``--sizes`` if a training size does not fit the splits."""
    top = split.max_n(cfg)
    big = [n for n in sizes_n if n > top]
    if big:
        need = f", keeping {MIN_AUX_ROWS} for the restricted model" if top < split.pool else ""
        raise ValueError(f"--sizes {big}: more training rows than the {top} available after "
                         f"the splits ({split.describe()}{need})")
