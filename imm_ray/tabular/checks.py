"""Checks of user-facing scalar settings, shared by the tabular and toy configs.

Each helper takes the setting's name as the user wrote it (a flag such as ``--tol`` or a
field such as ``tol``), accepts Python numbers, numpy scalars and 0-d tensors (converted
to ``int`` / ``float``), and raises ValueError naming the setting, the allowed range and,
when the type is the problem, the type.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np
import torch

from imm_ray.checks import interval


def _scalar(value):
    """numpy scalars, 0-d arrays and 0-d tensors -> Python scalars; else unchanged."""
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value.item()
    if torch.is_tensor(value) and value.dim() == 0:
        return value.item()
    return value


def as_int(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high]``, or ValueError naming ``name``."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer{_range(low, high)}, got "
                             f"{type(value).__name__} {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer{_range(low, high)}, got {value}")
    return value


def as_float(name: str, value, low: float | None = None, high: float | None = None, *,
             low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite ``float`` in the given interval, or ValueError naming ``name``."""
    value = _scalar(value)
    allowed = _interval(low, high, low_open, high_open)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite number{allowed}, got "
                         f"{type(value).__name__} {value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    if low is not None:
        bad |= value <= low if low_open else value < low
    if high is not None:
        bad |= value >= high if high_open else value > high
    if bad:
        raise ValueError(f"{name} must be a finite number{allowed}, got {value!r}")
    return value


def as_choice(name: str, value, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def as_names(name: str, values, allow_empty: bool = True) -> tuple[str, ...]:
    """A tuple of distinct non-empty strings (column names)."""
    if isinstance(values, str):
        values = (values,)
    values = tuple(values)
    bad = [v for v in values if not isinstance(v, str) or not v]
    if bad:
        raise ValueError(f"{name} must be column names (non-empty strings), got {bad!r}")
    if not values and not allow_empty:
        raise ValueError(f"{name} must name at least one column")
    from imm_ray.config import require_unique

    require_unique(name, values)
    return values


def _range(low, high) -> str:
    return _interval(low, high, False, False)


def _interval(low, high, low_open, high_open) -> str:
    """`` in [0, 1)``, `` >= 1`` ... for messages (empty when unbounded)."""
    if low is None and high is None:
        return ""
    text = interval(low, high, low_open, high_open)
    return f" in {text}" if low is not None and high is not None else f" {text}"
