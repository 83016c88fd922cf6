"""A smoothed frequency table ``Pbar(y | x)`` over discrete restricted columns.

For each distinct restricted value ``x`` (a row of the restricted columns) seen in the
fitting rows, with ``N_xy`` rows of class ``y`` out of ``N_x``::

    Pbar(y | x) = (N_xy + a prior_y) / (N_x + a),   prior_y = (N_y + 1) / (N + C),

i.e. ``a`` pseudo-counts (``smoothing``) spread as the add-one class prior; a value never
seen gets the prior itself. Follows :class:`imm_ray.protocols.RestrictedModel`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from imm_ray.checks import as_float, as_int


def _check_rows(values: Tensor, name: str) -> None:
    if not torch.is_tensor(values) or values.dim() != 2 or not values.is_floating_point():
        raise ValueError(f"{name} must be a [N, r] floating-point tensor of restricted values, "
                         f"got {type(values).__name__}"
                         f"{tuple(values.shape) if torch.is_tensor(values) else ''}")


class FrequencyTableRestricted:
    """Args:
        values: ``[m, r]`` restricted values of the fitting rows (codes or integers).
        y: ``[m]`` int64 classes in ``[0, num_classes)``.
        num_classes: ``C``.
        smoothing: pseudo-counts ``a > 0``.
    """

    def __init__(self, values: Tensor, y: Tensor, num_classes: int, smoothing: float = 1.0):
        _check_rows(values, "values")
        self.num_classes = as_int("num_classes", num_classes, 2)
        self.smoothing = as_float("smoothing", smoothing, 0.0, low_open=True)
        if y.shape != values.shape[:1] or y.dtype != torch.int64:
            raise ValueError(f"y must be int64 [m={len(values)}], got {y.dtype} "
                             f"{tuple(y.shape)}")
        if len(y) == 0 or int(y.min()) < 0 or int(y.max()) >= self.num_classes:
            raise ValueError(f"y must be non-empty with classes in [0, {self.num_classes})")
        self.keys, inverse = torch.unique(values, dim=0, return_inverse=True)  # [K, r]
        counts = torch.zeros(len(self.keys), self.num_classes, dtype=torch.float64)
        counts.index_put_((inverse, y), torch.ones(len(y), dtype=torch.float64), accumulate=True)
        class_counts = counts.sum(0)
        self.prior = (class_counts + 1) / (len(y) + self.num_classes)  # [C]
        self.table = ((counts + self.smoothing * self.prior)
                      / (counts.sum(1, keepdim=True) + self.smoothing))  # [K, C]

    def probs(self, restricted_contexts: Tensor) -> Tensor:
        """``[N, r]`` restricted values -> ``[N, C]`` (the prior for unseen values)."""
        _check_rows(restricted_contexts, "restricted_contexts")
        if restricted_contexts.shape[1] != self.keys.shape[1]:
            raise ValueError(f"restricted_contexts must have {self.keys.shape[1]} columns, got "
                             f"{restricted_contexts.shape[1]}")
        x = restricted_contexts.to(self.keys.dtype)
        out = self.prior.expand(len(x), -1).clone()
        for start in range(0, len(x), 4096):  # [chunk, K, r] comparisons
            part = x[start:start + 4096]
            match = (part.unsqueeze(1) == self.keys.unsqueeze(0)).all(-1)  # [c, K]
            found = match.any(-1)
            out[start:start + len(part)][found] = self.table[match.float().argmax(-1)[found]]
        return out
