"""Settings of the LM sweep presets (``sweeps/lm_ptb.py --preset NAME``) and benchmark.

Each preset is ``fixed`` :class:`~imm_ray.lm.config.LMConfig` fields, ``grid`` axes (the
fields of :class:`LMGrid`, below) and ``model_overrides`` (fields set per model on top of
``fixed``; an explicit flag of the same field wins). The small presets' values were
chosen by measurement (docs/lm_ptb.md, "Measured results" and "Cost of IMM"): a 64-unit
model, Adam, an equal token budget at every train_fraction with early stopping (patience
2), and IMM on 32 sampled positions per step with k = 10 histories of L = 5 tokens.

- ``quick``: tests, about a minute.
- ``cpu``: the bigram from the whole training split, the full model on 2% / 10% of it.
- ``cpu-same``: the bigram from exactly the prefix the full model trains on.
- ``cpu-full``: the whole training split, a 2 x 200 LSTM far better than the bigram, 4
  epochs (sized for the shared 2-core machine; ``--epochs`` for more).
- ``gpu``, ``paper``: 650- and 1500-unit models (the paper's setting), for a GPU.

SGD presets use lr 20 and clipping 0.25: the training loss here is the *mean* NLL per token,
while the reference (TensorFlow, Zaremba et al.) sums it over the 35 unrolled steps, so its
"lr 1, clip 5" is lr 35, clip ~0.14 in our units; lr 20 / clip 0.25 is PyTorch's
word_language_model setting for the same models. (lr 1 on the mean loss learns ~35x too
slowly: a 2 x 200 LSTM is still at validation perplexity 616 after one PTB epoch.)

The LM sweep's grid: per-axis values (:class:`LMGrid`), expanded into one validated
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

METHODS = ["none", "noising", "reverse_kd", "imm"]
_SMALL = dict(emb_size=64, hidden_size=64, optimizer="adam", lr=1e-2, dropout=0.3,
              valid_tokens=10_000, eval_batch_size=20, token_budget=140_000, patience=2,
              imm_length=5, imm_contexts=32, k=10)
_SMALL_OVERRIDES = {"transformer": dict(dropout=0.2, lr=3e-3)}
PRESETS = {
    "quick": dict(
        fixed={**_SMALL, "emb_size": 32, "hidden_size": 32, "epochs": 1, "token_budget": 0,
               "patience": 0, "valid_tokens": 2_000, "test_tokens": 5_000,
               "imm_contexts": 8, "k": 4},
        grid=dict(models=["lstm", "transformer"], methods=["none", "imm"], imm_lambdas=[0.5],
                  ks=[4], train_fractions=[0.01], seed_values=[0]),
        model_overrides=_SMALL_OVERRIDES),
    "cpu": dict(
        fixed=dict(_SMALL),
        grid=dict(models=["lstm", "transformer"], methods=METHODS, imm_lambdas=[0.5],
                  ks=[10], train_fractions=[0.02, 0.1], seed_values=[0, 1, 2]),
        model_overrides=_SMALL_OVERRIDES),
    "cpu-same": dict(
        fixed=dict(_SMALL),
        grid=dict(models=["lstm"], methods=METHODS, imm_lambdas=[0.5], ks=[10],
                  train_fractions=[0.05, 0.1, 0.3], seed_values=[0, 1, 2],
                  restricted_data=["same"]),
        model_overrides=_SMALL_OVERRIDES),
    "cpu-full": dict(
        fixed=dict(emb_size=200, hidden_size=200, num_layers=2, dropout=0.2, optimizer="sgd",
                   lr=20.0, clip=0.25, epochs=4, patience=0, valid_tokens=0, test_tokens=0,
                   imm_length=5, imm_contexts=32, k=10),
        grid=dict(models=["lstm"], methods=METHODS, imm_lambdas=[0.2], ks=[10],
                  train_fractions=[1.0], seed_values=[0]),
        model_overrides={}),
    "gpu": dict(
        fixed=dict(emb_size=650, hidden_size=650, dropout=0.5, optimizer="sgd", lr=20.0,
                   clip=0.25,
                   epochs=39, patience=6, imm_length=35, imm_contexts=128, k=10,
                   num_heads=10),  # 650 = 10 x 65 (4 heads do not divide 650)
        grid=dict(models=["lstm", "transformer"], methods=METHODS, imm_lambdas=[0.2],
                  ks=[10], train_fractions=[0.1, 1.0], seed_values=[0, 1, 2]),
        model_overrides={}),
    "paper": dict(
        fixed=dict(emb_size=1500, hidden_size=1500, dropout=0.65, optimizer="sgd", lr=20.0,
                   clip=0.25,
                   epochs=55, imm_length=35, imm_contexts=0, imm_every=5, k=10,
                   imm_start_ppl=90.0, imm_chunk=2),
        grid=dict(models=["lstm"], methods=["none", "noising", "imm"], imm_lambdas=[0.2],
                  ks=[10], train_fractions=[1.0], seed_values=[0]),
        model_overrides={}),
}


def preset_trial_config(preset: str, model: str) -> dict:
    """The fixed fields of ``preset`` with ``model``'s overrides and ``model`` itself."""
    p = PRESETS[preset]
    return {**p["fixed"], **p["model_overrides"].get(model, {}), "model": model}


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
    seed_values: tuple[int, ...] = (0, 1, 2)
    """Grid axis: explicit seed values (default: 0 .. --seeds - 1)."""
    restricted_data: tuple[str, ...] = ("full",)
    """Grid axis: KN bigram from the whole training split (full) or the model's prefix (same)."""


AXES = {"models": "model", "methods": "method", "imm_lambdas": "imm_lambda", "ks": "k",
        "train_fractions": "train_fraction", "seed_values": "seed",
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
