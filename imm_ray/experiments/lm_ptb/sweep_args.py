"""Flags of ``sweeps/lm_ptb.py``: every :class:`LMConfig` field, the :class:`LMGrid` axes
and :class:`LMSweepOptions`, each a flag with its docstring as help; a preset supplies the
defaults (an explicit flag wins, also over the preset's per-model settings).

:func:`parse_args` checks everything before Ray starts: the shared flags
(``sweep.parse_sweep_args``, which with ``--resume`` restores the original settings),
the device against ``--gpus-per-trial``, and the full config of every grid point.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields

from imm_ray import sweep
from imm_ray.checks import check_real
from imm_ray.config import add_dataclass_args
from imm_ray.experiments.lm_ptb.config import AXES, PRESETS, LMGrid, flag, trial_configs
from imm_ray.lm.config import CHOICES, LMConfig
from imm_ray.sweep.expfile import read_config_file

DEVICES = CHOICES["device"]

EXPERIMENT = "lm_ptb"
NOT_FLAGS = ("data_path", *AXES.values())
"""LMConfig fields that are not flags: the data path is prepared, axes are LMGrid's."""


@dataclass
class LMSweepOptions:
    preset: str = "cpu"
    """Preset of defaults (imm_ray/experiments/lm_ptb/config.py): quick, cpu, cpu-same, cpu-full,
    gpu, paper."""
    data_dir: str = ""
    """Folder with ptb.{train,valid,test}.txt ('' = $IMM_RAY_PTB_DIR or ../shared/data/ptb)."""
    cache_dir: str = ""
    """Token cache folder ('' = $IMM_RAY_CACHE or ~/.cache/imm_ray; workers must see it)."""
    asha: bool = False
    """ASHA early stopping on validation perplexity (needs token_budget 0)."""
    seeds: int = 3
    """Seeds per grid point: seeds 0 .. N-1 (--seed-values gives explicit ones instead)."""
    analyze: tuple[str, ...] = ()
    """No training: report on these experiment folders (first finished run of a point wins)."""


@dataclass
class SweepPlan:
    """What the driver runs: the fixed trial fields, the axes, every trial's config."""

    fixed: dict = field(default_factory=dict)
    grid: LMGrid = field(default_factory=LMGrid)
    trials: list[LMConfig] = field(default_factory=list)


def build_parser(description: str, preset: str) -> argparse.ArgumentParser:
    """The shared sweep flags plus ours, with ``preset``'s values as defaults."""
    p = sweep.sweep_parser(description, EXPERIMENT)
    add_dataclass_args(p, LMSweepOptions, choices={"preset": list(PRESETS)})
    add_dataclass_args(p, LMGrid, choices={"models": CHOICES["model"],
                                           "methods": CHOICES["method"],
                                           "restricted_data": CHOICES["restricted_data"]})
    add_dataclass_args(p, LMConfig, skip=NOT_FLAGS, choices=CHOICES)
    p.flag_aliases = {field: flag(axis) for axis, field in AXES.items()}  # imm_lambda
    p.set_defaults(**PRESETS[preset]["fixed"], **PRESETS[preset]["grid"], preset=preset,
                   seeds=len(PRESETS[preset]["grid"]["seed_values"]), model_overrides=None)
    return p


def preset_of(argv) -> str:
    """The preset named on the command line or in its ``--config`` file (``--quick``
    means ``quick``), unchecked; ``--quick`` with another ``--preset`` is a ValueError
    (neither would silently win)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", default=None)
    pre.add_argument("--quick", action="store_true")
    pre.add_argument("--config", default=None)
    known, _ = pre.parse_known_args(argv)
    if known.quick and known.preset not in (None, "quick"):
        raise ValueError(f"--quick is the preset 'quick'; it cannot be combined with --preset "
                         f"{known.preset}: pass one of them")
    from_file = read_config_file(known.config) if known.config else {}
    if known.quick or (from_file.get("quick") and not known.preset):
        return "quick"
    return known.preset or from_file.get("preset", LMSweepOptions.preset)


def parse_args(description: str, argv=None) -> tuple[argparse.Namespace, SweepPlan]:
    """Parse and check everything: (the flags, with device, threads and the per-model
    overrides resolved; the plan with every trial's validated LMConfig). Errors exit
    through ``parser.error`` (status 2)."""
    try:
        preset = preset_of(argv)
    except ValueError as e:
        sweep.sweep_parser(description, EXPERIMENT).error(str(e))
    if preset not in PRESETS:
        sweep.sweep_parser(description, EXPERIMENT).error(
            f"--preset must be one of {sorted(PRESETS)}, got {preset!r}")
    p = build_parser(description, preset)
    args = sweep.parse_sweep_args(p, argv)  # --resume: every original setting restored
    try:
        return args, resolve(args, sweep.explicit_dests(p, argv))
    except (ValueError, FileNotFoundError) as e:
        p.error(str(e))


def resolve(args: argparse.Namespace, given: set[str]) -> SweepPlan:
    """Device, threads, per-model overrides, then the validated trial configs."""
    preset = PRESETS[args.preset]
    if "epochs" in given and "token_budget" not in given:
        args.token_budget = 0  # --epochs N means N epochs, not the preset's token budget
    check_device(args, given)
    resolve_seeds(args, given)
    args.data_dir, args.cache_dir = map(sweep.local_path, (args.data_dir, args.cache_dir))
    if "threads" not in given:
        args.threads = max(1, int(args.cpus_per_trial))
    if args.model_overrides is None:  # a resume keeps the original run's (saved) ones
        args.model_overrides = {m: {k: v for k, v in o.items() if k not in given}
                                for m, o in preset["model_overrides"].items()}
    if args.asha and args.token_budget > 0:
        raise ValueError("--asha needs a fixed epoch count: pass --epochs (or --token-budget 0)")
    from imm_ray.lm import data as lmdata  # torch: after the flags are parsed

    lmdata.split_files(args.data_dir or lmdata.default_data_dir())  # names a missing path
    if args.analyze:
        check_experiments(args.analyze)
        return SweepPlan()
    fixed = {f.name: getattr(args, f.name) for f in fields(LMConfig) if f.name not in NOT_FLAGS}
    grid = LMGrid(**{f.name: tuple(getattr(args, f.name)) for f in fields(LMGrid)})
    return SweepPlan(fixed, grid, trial_configs(fixed, grid, args.model_overrides))


def resolve_seeds(args: argparse.Namespace, given: set[str]) -> None:
    """``--seeds N`` (a count: seeds 0..N-1) or ``--seed-values`` (explicit), not both."""
    if "seeds" in given and "seed_values" in given:
        raise ValueError("--seeds N counts seeds (0..N-1) and --seed-values lists them: "
                         "pass one of the two")
    check_real(args.seeds, "--seeds", low=1, integer=True)
    if "seed_values" not in given:
        args.seed_values = list(range(int(args.seeds)))
    args.seeds = len(args.seed_values)


def check_experiments(paths) -> None:
    """``--analyze`` folders must be Tune experiments (an ``experiment_state-*.json``)."""
    from pathlib import Path

    for p in paths:
        folder = Path(p).expanduser()
        if not folder.is_dir() or not any(folder.glob("experiment_state-*.json")):
            what = "is not a folder" if not folder.is_dir() else \
                "is not a Tune experiment folder (no experiment_state-*.json)"
            raise ValueError(f"--analyze {p}: {what}; pass the folders lm_ptb printed as "
                             "'experiment: ...'")


def check_device(args: argparse.Namespace, given: set[str]) -> None:
    """GPU trials use cuda (and fail loudly in a trial that sees no GPU); cuda without
    ``--gpus-per-trial`` is refused."""
    gpu = args.gpus_per_trial > 0
    if args.device not in DEVICES:  # never silently replaced by cpu below
        raise ValueError(f"--device must be one of {list(DEVICES)}, got {args.device!r}")
    if "device" in given and args.device == "cuda" and not gpu:
        raise ValueError("--device cuda needs --gpus-per-trial > 0 (Ray gives a trial a GPU "
                         "only when it asks for one)")
    if "device" in given and args.device == "cpu" and gpu:
        raise ValueError("--device cpu with --gpus-per-trial > 0 would leave the GPU idle")
    args.device = "cuda" if gpu else "cpu"
