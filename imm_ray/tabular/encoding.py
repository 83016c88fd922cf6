"""Model inputs from a table's raw values: design rows ``(1, restricted..., extra...)``.

Numeric columns are standardised with the mean and standard deviation of the rows a model
is fitted on (its training part: statistics of held-out rows never enter); a column that is
constant there keeps scale 1. Categorical columns (integer codes) become one-hot blocks
over all their categories. Everything is batched over seeds: ``values [S, m, F]`` with
statistics ``[S, 1, F]`` per seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from imm_ray.tabular.data import Column


def width(column: Column) -> int:
    """Design columns of one table column."""
    return len(column.categories) if column.kind == "categorical" else 1


def fit_stats(values: Tensor, columns: Sequence[Column]) -> tuple[Tensor, Tensor]:
    """Standardisation from fitting rows ``[S, n, F]``: ``(mean, std)`` each ``[S, 1, F]``
    (categorical columns: 0 and 1, i.e. left as codes)."""
    numeric = torch.tensor([c.kind == "numeric" for c in columns])
    mean = values.mean(-2, keepdim=True)
    std = values.std(-2, keepdim=True, correction=0)
    std = torch.where(std > 1e-12 * (1 + mean.abs()), std, torch.ones_like(std))
    return (torch.where(numeric, mean, torch.zeros_like(mean)),
            torch.where(numeric, std, torch.ones_like(std)))


def design(values: Tensor, columns: Sequence[Column], mean: Tensor, std: Tensor) -> Tensor:
    """``[S, m, F]`` raw values -> ``[S, m, 1 + sum(width)]`` design rows, columns in the
    given order (each numeric one standardised, each categorical one-hot)."""
    scaled = (values - mean) / std
    parts = [torch.ones_like(values[..., :1])]
    for j, col in enumerate(columns):
        if col.kind == "categorical":
            codes = values[..., j].long()
            parts.append(F.one_hot(codes, len(col.categories)).to(values.dtype))
        else:
            parts.append(scaled[..., j:j + 1])
    return torch.cat(parts, -1)
