"""Command line of ``sweeps/lambda_vs_n.py``: flags from the config dataclasses, and their
resolution into a :class:`Run` with every value checked before Ray starts.

Flags come from four dataclasses (each field a flag, its docstring the help):
:class:`LambdaSweepConfig` (the grid), :class:`imm_ray.tabular.config.FitConfig` (fitting),
:class:`imm_ray.experiments.lambda_vs_n.config.ToyConfig` (the toy) and
:class:`imm_ray.tabular.config.TabularConfig` (a table: ``--dataset``, ``--target``,
``--restricted``, ...). :func:`resolve` builds them, loads the table, fixes the sizes and
builds every grid point's :class:`imm_ray.experiments.lambda_vs_n.config.CellConfig`, so a value
that
would fail inside a trial fails here, naming its flag.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from imm_ray import sweep
from imm_ray.checks import check_memory
from imm_ray.config import add_dataclass_args, from_dict
from imm_ray.experiments.lambda_vs_n.config import (
    METHODS,
    OPTUNA_TOY_SIZES,
    QUICK_TOY_SIZES,
    SEARCHES,
    TOY_SIZES,
    CellConfig,
    LambdaSweepConfig,
    ToyConfig,
    table_sizes,
)
from imm_ray.sweep.flags import local_path
from imm_ray.tabular.config import (
    INDUCED_KINDS,
    MISSING,
    MODELS,
    RESTRICTED_KINDS,
    RESTRICTED_SOURCES,
    FitConfig,
    TabularConfig,
)

EXPERIMENT = "lambda_vs_n"
QUICK = {"ratios": (0.0, 0.35, 0.8, 0.95, 0.995), "seeds": 10, "valid_size": 2000,
         "test_size": 5000, "optuna_trials": 3}
"""--quick: 3 sizes x 4 methods = 12 trials of 10 seeds, under a minute with Ray start-up."""


FLAG_CHOICES = {"methods": METHODS, "search": SEARCHES, "model": MODELS, "missing": MISSING,
                "restricted_source": RESTRICTED_SOURCES, "restricted_kind": RESTRICTED_KINDS,
                "induced": INDUCED_KINDS}
"""The flags with fixed values (listed in --help)."""


@dataclass
class Run:
    """Everything resolved from the flags, before Ray starts."""

    sweep: LambdaSweepConfig
    fit: FitConfig
    toy: ToyConfig | None
    table: TabularConfig | None
    sha256: str = ""
    """sha256 of the table's data (trials refuse a changed file)."""


def build_parser(description: str) -> argparse.ArgumentParser:
    parser = sweep.sweep_parser(description, EXPERIMENT)
    for cls in (LambdaSweepConfig, FitConfig, ToyConfig, TabularConfig):
        add_dataclass_args(parser, cls, choices=FLAG_CHOICES)
    return parser


def parse_args(argv=None, description: str = "lambda vs n") -> tuple[argparse.Namespace, Run]:
    """Flags -> ``(args, Run)``; every error exits through ``parser.error`` (status 2,
    naming the flag) before Ray starts. ``--resume`` takes the original run's settings."""
    parser = build_parser(description)
    if "--quick" in (sys.argv[1:] if argv is None else argv):
        parser.set_defaults(**QUICK)
    args = sweep.parse_sweep_args(parser, argv)
    try:
        run = resolve(args)
    except ValueError as e:
        parser.error(str(e))
    return args, run


def resolve(args: argparse.Namespace) -> Run:
    """Build and validate every config, load the table, fix the sizes, and check every grid
    point's cell; writes the resolved sizes and dataset path back into ``args``, so that
    ``sweep_args.json`` (and a later ``--resume``) holds exactly these."""
    values = vars(args)
    sweep = from_dict(LambdaSweepConfig, values, strict=False)
    fit = from_dict(FitConfig, values, strict=False)
    tab = from_dict(TabularConfig, values, strict=False)
    # torch (through the table code) only once the flags' own checks have passed
    from imm_ray.tabular.cell import check_grid as check_table_grid
    from imm_ray.tabular.data import fingerprint, load_table
    from imm_ray.tabular.splits import split_sizes

    if not tab.dataset:
        tab.check_no_table_flags()
        toy, tab, sha = from_dict(ToyConfig, values, strict=False), None, ""
        sizes = sweep.sizes or (QUICK_TOY_SIZES if args.quick else OPTUNA_TOY_SIZES
                                if sweep.search == "optuna" else TOY_SIZES)
    else:
        if not tab.dataset.startswith("sklearn:"):  # ~ and relative paths, as trials see them
            tab.dataset = args.dataset = local_path(tab.dataset)
        toy, table = None, load_table(tab.dataset, tab)
        top = split_sizes(len(table.y), tab).max_n(tab)
        sizes = sweep.sizes or table_sizes(top, 3 if args.quick else 8)
        print(check_table_grid(table, tab, sizes))
        sha = fingerprint(tab.dataset)
    sweep.sizes = tuple(sizes)
    args.sizes = list(sizes)
    for method in sweep.methods:  # every trial's config, as the trial will resolve it
        for n in sizes:
            CellConfig(method, n, sweep.seeds, sweep.ratios, fit, toy, tab, sha)
    check_cell_memory(sweep, toy, None if tab is None else table)
    return Run(sweep, fit, toy, tab, sha)


def check_cell_memory(sweep: LambdaSweepConfig, toy: ToyConfig | None, table) -> None:
    """Refuse (ValueError naming ``--sizes``, with the figure in GB) a grid whose largest
    cell cannot fit in this machine's memory, before Ray starts."""
    from imm_ray.tabular.trainer import cell_bytes

    if toy is not None:  # design (1, x, xb); Pbar integrates over quadrature nodes
        features, classes, build = len(toy.weights), 2, 2 * toy.quadrature_nodes
    else:  # a lower bound: one design column per table column, plus the intercept
        features, classes, build = 1 + len(table.columns), table.num_classes, 0
    for n in sweep.sizes:
        need = max(cell_bytes(m, n, sweep.seeds, len(sweep.ratios), features, classes, build)
                   for m in sweep.methods)
        check_memory("--sizes", need, f"the cells at n = {n} ({sweep.seeds} seeds)")
