"""The LM sweep's grid: per-axis values (:class:`LMGrid`), expanded into one validated
:class:`~imm_ray.lm.config.LMConfig` per trial, and the Tune ``param_space`` for them.

A trial's config is ``{**fixed, **model_overrides[model], <axis values>}``: the per-model
settings (e.g. the small transformer's learning rate) are derived in the trial from the
``model`` axis (:func:`trial_config`), so every axis stays a plain ``tune.grid_search``
that Tune's result table shows. :func:`trial_configs` builds every grid point's config in
the driver, so a bad value stops the sweep before Ray starts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields

from imm_ray.config import from_dict, require_unique
from imm_ray.lm.config import LMConfig

OVERRIDES_KEY = "model_overrides"
"""The ``param_space`` entry ``{model: {field: value}}`` applied in each trial."""


@dataclass
class LMGrid:
    models: tuple[str, ...] = ("lstm", "transformer")
    """Grid axis: full models (lstm, transformer)."""
    methods: tuple[str, ...] = ("none", "noising", "reverse_kd", "imm")
    """Grid axis: methods (none, noising, reverse_kd, imm)."""
    imm_lambdas: tuple[float, ...] = (0.5,)
    """Grid axis: lambda of imm / reverse_kd (several values: only with those methods)."""
    ks: tuple[int, ...] = (10,)
    """Grid axis: IMM histories per context (several values: only with --methods imm)."""
    train_fractions: tuple[float, ...] = (0.02, 0.1)
    """Grid axis: fraction (prefix) of the training split the full model sees."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Grid axis: seeds."""
    restricted_data: tuple[str, ...] = ("full",)
    """Grid axis: KN bigram from the whole training split (full) or the model's prefix (same)."""


AXES = {"models": "model", "methods": "method", "imm_lambdas": "imm_lambda", "ks": "k",
        "train_fractions": "train_fraction", "seeds": "seed",
        "restricted_data": "restricted_data"}
"""LMGrid field -> the LMConfig field it sweeps."""
USED_BY = {"imm_lambdas": ("imm", "reverse_kd"), "ks": ("imm",),
           "restricted_data": ("noising", "reverse_kd", "imm")}
"""Axes that only some methods read: several values with another method would run that
method's trial several times with identical results."""


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_axes(grid: LMGrid) -> None:
    """Non-empty, no repeated values, no axis that would duplicate trials; ValueError
    naming the flag."""
    for f in fields(grid):
        values = list(getattr(grid, f.name))
        if not values:
            raise ValueError(f"{flag(f.name)} needs at least one value")
        require_unique(flag(f.name), values)
    for axis, users in USED_BY.items():
        others = sorted(set(grid.methods) - set(users))
        if len(getattr(grid, axis)) > 1 and others:
            raise ValueError(f"{flag(axis)} with several values runs identical trials for "
                             f"--methods {' '.join(others)} (they ignore "
                             f"{AXES[axis]}); sweep them separately")
    if len(grid.restricted_data) > 1 and 1.0 in grid.train_fractions:
        raise ValueError("--restricted-data full same at --train-fractions 1.0 runs identical "
                         "trials (the prefix is the whole split)")


def trial_config(config: dict) -> LMConfig:
    """A Tune trial's config dict -> its :class:`LMConfig` (per-model overrides applied)."""
    flat = dict(config)
    overrides = flat.pop(OVERRIDES_KEY, None) or {}
    flat.update(overrides.get(flat.get("model", LMConfig.model), {}))
    return from_dict(LMConfig, flat)


def grid_points(grid: LMGrid) -> list[dict]:
    """One ``{LMConfig field: value}`` per trial, in Tune's grid order."""
    names = list(AXES)
    return [dict(zip((AXES[n] for n in names), values, strict=True))
            for values in itertools.product(*(getattr(grid, n) for n in names))]


def trial_configs(fixed: dict, grid: LMGrid, overrides: dict) -> list[LMConfig]:
    """Every trial's full config, validated; ValueError naming the grid point and field."""
    check_axes(grid)
    out = []
    for point in grid_points(grid):
        try:
            out.append(trial_config({**fixed, **point, OVERRIDES_KEY: overrides}))
        except ValueError as e:
            raise ValueError(f"{flag_of(str(e))}: {e} (grid point {point})") from None
    return out


def flag_of(message: str) -> str:
    """The flag that sets the LMConfig field a message starts with (axes: the axis flag)."""
    name = message.split(" ", 1)[0]
    axis = {v: k for k, v in AXES.items()}.get(name)
    known = name in {f.name for f in fields(LMConfig)}
    return flag(axis or name) if known else "a trial setting"


def param_space(fixed: dict, grid: LMGrid, overrides: dict) -> dict:
    """Tune's ``param_space``: fixed fields, one ``tune.grid_search`` per axis, overrides."""
    from ray import tune

    axes = {AXES[n]: tune.grid_search(list(getattr(grid, n))) for n in AXES}
    return {**fixed, **axes, OVERRIDES_KEY: overrides}
