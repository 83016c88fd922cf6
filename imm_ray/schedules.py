"""The IMM weight: ``lambda <-> ratio`` and schedules of lambda in the dataset size.

Re-exported by :mod:`imm_ray.core` (``core.ConstantSchedule``, ``core.make_schedule``,
...), which is where users find them. The objective is ``L_main + lambda L_imm``, or
``(1 - r) L_main + r L_imm`` with the ratio ``r = lambda / (1 + lambda)`` in [0, 1).

Every field is checked when a schedule is built (finite numbers of a number type,
known names), so a schedule read from JSON with ``"intercept": -Infinity`` or
``"slope": "0.1"`` fails where it enters instead of silently switching IMM off.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Literal

import torch

from imm_ray.checks import as_real, check_choice, check_real


def lambda_from_ratio(r: float) -> float:
    """``lambda = r / (1 - r)`` for a ratio ``r`` in [0, 1)."""
    r = check_real(r, "ratio", low=0.0, high=1.0, high_open=True)
    return r / (1.0 - r)


def ratio_from_lambda(imm_lambda: float) -> float:
    """``r = lambda / (1 + lambda)`` for ``lambda >= 0``."""
    imm_lambda = check_real(imm_lambda, "imm_lambda", low=0.0)
    return imm_lambda / (1.0 + imm_lambda)


@dataclass(frozen=True)
class ConstantSchedule:
    """The same lambda for every dataset size (``imm_lambda`` finite, >= 0)."""

    imm_lambda: float

    def __post_init__(self):
        object.__setattr__(self, "imm_lambda", check_real(self.imm_lambda, "imm_lambda",
                                                          low=0.0))

    def ratio(self, n: float) -> float:
        return ratio_from_lambda(self.imm_lambda)

    def __call__(self, n: float) -> float:
        return self.imm_lambda


MAX_RATIO = 0.999
"""The one cap on a schedule's ratio (lambda <= 999): :class:`RatioSchedule`'s default, so
``analysis.fit_schedule`` and a sweep's ``schedules.json`` clip a fitted line alike. It is
the largest ratio the lambda-vs-n grid sweeps."""


@dataclass(frozen=True)
class RatioSchedule:
    """Ratio as a line in ``n`` or ``log n``: ``r(n) = clip(round(slope f(n) + intercept))``.

    ``f(n) = n`` (``basis="n"``) or ``log n`` (``basis="log_n"``); rounded to ``decimals``
    (an integer in [0, 15]) when given (the reference RL rule rounds to 0.1), then clipped
    into ``[0, max_ratio]`` (``max_ratio`` in [0, 1), default :data:`MAX_RATIO`) so that
    lambda stays finite.
    ``slope`` and ``intercept`` must be finite. Calling the schedule returns lambda.
    """

    slope: float
    intercept: float
    basis: Literal["n", "log_n"] = "n"
    decimals: int | None = None
    max_ratio: float = MAX_RATIO

    def __post_init__(self):
        fix = {"slope": check_real(self.slope, "slope"),
               "intercept": check_real(self.intercept, "intercept"),
               "basis": check_choice(self.basis, "basis", ("n", "log_n")),
               "max_ratio": check_real(self.max_ratio, "max_ratio", low=0.0, high=1.0,
                                       high_open=True)}
        if self.decimals is not None:
            fix["decimals"] = check_real(self.decimals, "decimals", low=0, high=15,
                                         integer=True)
        for key, value in fix.items():
            object.__setattr__(self, key, value)

    def ratio(self, n: float) -> float:
        n = check_real(n, "dataset size n", low=0.0, low_open=True)
        r = self.slope * (n if self.basis == "n" else math.log(n)) + self.intercept
        if self.decimals is not None and math.isfinite(r):
            r = round(r, self.decimals)
        return min(max(r, 0.0), self.max_ratio)  # +-inf from a huge n clips too

    def __call__(self, n: float) -> float:
        return lambda_from_ratio(self.ratio(n))


REFERENCE_RL_SCHEDULE = RatioSchedule(slope=-0.0002, intercept=0.1891, decimals=1)
"""The reference RL code's rule ``r = round(-0.0002 n + 0.1891, 1)`` (n = epochs)."""

Schedule = ConstantSchedule | RatioSchedule
SCHEDULE_PRESETS: dict[str, Schedule] = {"reference_rl": REFERENCE_RL_SCHEDULE}
_RATIO_FIELDS = tuple(f.name for f in dataclasses.fields(RatioSchedule))


def make_schedule(spec: float | str | dict | Schedule) -> Schedule:
    """A schedule from a config value: a number (constant lambda; numpy scalars and 0-d
    tensors too), a preset name (``"reference_rl"``), a dict of :class:`RatioSchedule`
    fields (``slope`` and ``intercept`` required; every value type-checked), or a schedule.

    Raises:
        ValueError: naming the offending field, preset or type.
    """
    if isinstance(spec, (ConstantSchedule, RatioSchedule)):
        return spec
    if isinstance(spec, str):
        if spec not in SCHEDULE_PRESETS:
            raise ValueError(f"unknown schedule preset {spec!r}; choose from "
                             f"{sorted(SCHEDULE_PRESETS)}")
        return SCHEDULE_PRESETS[spec]
    if isinstance(spec, dict):
        return _ratio_schedule_from_dict(spec)
    if isinstance(spec, numbers.Real) or torch.is_tensor(spec):
        return ConstantSchedule(as_real(spec, "schedule (a constant lambda)"))
    raise ValueError(f"schedule spec must be a number, a preset name {sorted(SCHEDULE_PRESETS)}"
                     f" or a dict of {list(_RATIO_FIELDS)}, got {type(spec).__name__} "
                     f"{spec!r}")


def _ratio_schedule_from_dict(spec: dict) -> RatioSchedule:
    unknown = sorted(str(k) for k in spec if k not in _RATIO_FIELDS)
    missing = [k for k in ("slope", "intercept") if k not in spec]
    if unknown or missing:
        problems = ([f"unknown fields {unknown}"] if unknown else []) + (
            [f"missing {missing}"] if missing else [])
        raise ValueError(f"schedule dict {spec!r}: {', '.join(problems)}; the fields are "
                         f"{list(_RATIO_FIELDS)} (slope and intercept required)")
    try:
        return RatioSchedule(**spec)
    except ValueError as e:
        raise ValueError(f"schedule dict {spec!r}: {e}") from None
