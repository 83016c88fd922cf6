"""How strongly to lean on the restricted model as data grows: lambda x n on the logistic toy.

What it shows (IMM.md sections 6, 7.1): for training sets of n = 2..50 points, logistic
regression trained with IMM, reverse-KD, noising (and prediction-time interpolation) at
ratios r = lambda / (1 + lambda) in {0, 0.1, ..., 0.9}, 100 seeds per cell; the best
ratio per (method, n) chosen on a validation set, test log-loss / accuracy with 95%
intervals, a fitted ratio schedule per method, and the consistency picture (reverse-KD
degrades as r grows, IMM does not).

Run:
    python sweeps/lambda_vs_n.py                      # local Ray; RAY_ADDRESS joins a cluster
    python sweeps/lambda_vs_n.py --quick              # small preset, < 1 minute
    python sweeps/lambda_vs_n.py --search optuna      # best r per (method, n) by OptunaSearch
    python sweeps/lambda_vs_n.py --resume             # continue the newest interrupted sweep
    python sweeps/lambda_vs_n.py --storage-path s3://bucket/imm --address auto

Each Tune trial is one (method, n) cell fitting all seeds x ratios at once with the
vectorised trainer (imm_ray.toy); it reports once, its per-seed rows as lists under
``rows/``. Ends by printing a summary and ``results: <csv>`` / ``plot: <png>`` lines.

Results to expect (default run: 100 trials, 102,500 rows, deterministic; wall 4 min 17 s
on 2 cores shared with other jobs, load average 4-9). Test log-loss, mean over 100 seeds
[95% CI], each method at its best ratio r (chosen on validation):

    n    none                 imm               reverse_kd        noising
    4    1.793 [1.481, 2.106] r=.9 0.796 [.718, .873]  r=.9 0.571 [.549, .592]  r=.3 1.751
    8    1.402 [1.246, 1.557] r=.9 0.567 [.529, .604]  r=.7 0.522 [.509, .536]  r=.6 0.834
    16   0.779 [0.700, 0.858] r=.9 0.454 [.442, .467]  r=.4 0.476 [.464, .488]  r=.3 0.553
    32   0.515 [0.489, 0.540] r=.9 0.422 [.417, .427]  r=.2 0.440 [.433, .448]  r=.2 0.462
    50   0.444 [0.436, 0.451] r=.9 0.412 [.408, .415]  r=.2 0.424 [.420, .427]  r=.1 0.430

IMM beats none with non-overlapping 95% CIs at every n from 2 to 20. At n = 30..50
reverse-KD loses 0.083-0.103 log-loss (paired 95% CIs within [0.077, 0.106]) going from its
best ratio (0.2-0.3) to r = 0.9, while IMM's best ratio is r = 0.9 itself. (Bayes 0.392;
the restricted model alone 0.551.) IMM's optimum lies beyond the default grid for n <= 16:
with --ratios 0.8 0.9 0.95 0.98 0.99 it is r = 0.99 up to n = 8 (0.489 at n = 8, below
every baseline), 0.95 at n = 16, 0.9 at n = 32 and 50.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from imm_ray import analysis, tune_cli
from imm_ray.config import add_dataclass_args, from_dict
from imm_ray.toy import plots, report
from imm_ray.toy.config import ToyConfig
from imm_ray.toy.trainer import ALL_METHODS, METHODS, ROW_FIELDS, train_cell

EXPERIMENT = "lambda_vs_n"
METRIC = "eval/valid_log_loss"


# --------------------------------------------------------------------------- config


@dataclass
class LambdaSweepConfig:
    sizes: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 22, 25, 28,
                              30, 32, 35, 38, 41, 44, 47, 50)
    """Training set sizes n (each >= 2); with --search optuna the default is OPTUNA_SIZES."""
    ratios: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    """Ratios r = lambda / (1 + lambda) of the grid (and of interpolate), each in [0, 1)."""
    methods: tuple[str, ...] = ("imm", "noising", "reverse_kd", "none")
    """Training methods; 'none' also yields 'interpolate' rows at every ratio."""
    seeds: int = 100
    """Training seeds per (method, ratio, n); seed s's data depends only on (s, n)."""
    search: str = "grid"
    """'grid': every ratio; 'optuna': OptunaSearch for the best r per (method, n)."""
    optuna_trials: int = 6
    """With --search optuna: trials (ratios tried) per (method, n)."""
    optuna_max_ratio: float = 0.95
    """With --search optuna: ratios are searched in [0, this]."""


OPTUNA_SIZES = (2, 3, 4, 6, 8, 12, 16, 24, 32, 50)
"""Default sizes with --search optuna: 10 sizes x 6 ratios x 3 methods (+ none) = 190
trials, 18,000 fits of the searched methods vs the grid's 75,000 (25 sizes x 10 ratios)."""

QUICK = {"sizes": (2, 8, 32), "ratios": (0.0, 0.3, 0.6, 0.9), "seeds": 10,
         "valid_size": 2000, "test_size": 5000, "optuna_trials": 3}
"""--quick: 12 trials of 10 seeds, under a minute including Ray start-up."""


def parse_args(argv=None):
    """Flags -> (args, sweep, toy); every error is reported before Ray starts."""
    parser = tune_cli.sweep_parser(__doc__.splitlines()[0], EXPERIMENT)
    add_dataclass_args(parser, LambdaSweepConfig)
    add_dataclass_args(parser, ToyConfig)
    known = parser.parse_known_args(argv)[0]
    if known.search == "optuna":
        parser.set_defaults(sizes=OPTUNA_SIZES)
    if known.quick:
        parser.set_defaults(**QUICK)
    args = parser.parse_args(argv)
    try:
        sweep = from_dict(LambdaSweepConfig, vars(args), strict=False)
        validate(sweep)
        toy = from_dict(ToyConfig, vars(args), strict=False)
        tune_cli.validate_common(args)
    except ValueError as e:
        parser.error(str(e))
    return args, sweep, toy


def validate(sweep: LambdaSweepConfig) -> None:
    """Raise ValueError naming the flag for any bad sweep setting."""
    bad_n = [n for n in sweep.sizes if isinstance(n, bool) or not isinstance(n, int) or n < 2]
    if bad_n or not sweep.sizes:
        raise ValueError(f"--sizes: every n must be an integer >= 2, got {list(sweep.sizes)}")
    bad_r = [r for r in sweep.ratios if not 0.0 <= r < 1.0]
    if bad_r or not sweep.ratios:
        raise ValueError(f"--ratios must be in [0, 1), got {list(sweep.ratios)}")
    unknown = [m for m in sweep.methods if m not in METHODS]
    if unknown or not sweep.methods:
        raise ValueError(f"--methods: unknown {unknown}; choose from {list(METHODS)} "
                         "('interpolate' comes with 'none')")
    for flag, values in (("--sizes", sweep.sizes), ("--ratios", sweep.ratios),
                         ("--methods", sweep.methods)):
        if len(set(values)) != len(values):
            raise ValueError(f"{flag} must not repeat a value, got {list(values)}")
    if sweep.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {sweep.seeds}")
    if sweep.search not in ("grid", "optuna"):
        raise ValueError(f"--search must be 'grid' or 'optuna', got {sweep.search!r}")
    if sweep.optuna_trials < 1:
        raise ValueError(f"--optuna-trials must be >= 1, got {sweep.optuna_trials}")
    if not 0.0 < sweep.optuna_max_ratio < 1.0:
        raise ValueError(f"--optuna-max-ratio must be in (0, 1), got {sweep.optuna_max_ratio}")


# --------------------------------------------------------------------------- trainable

CELL_KEYS = ("method", "n", "seeds", "ratios", "ratio")


def train_lambda_cell(config: dict) -> None:
    """One (method, n) cell: every seed x ratio in one vectorised fit; reports once.

    The report carries a tiny checkpoint: Tune then saves its experiment state as soon as
    the cell is done, and a cell restored after an interruption finds the checkpoint and
    returns at once, so ``--resume`` never trains a finished cell twice.
    """
    from ray import tune

    if tune.get_checkpoint() is not None:
        return  # finished (and reported) before the sweep was interrupted
    toy = from_dict(ToyConfig, {k: v for k, v in config.items() if k not in CELL_KEYS})
    ratios = [config["ratio"]] if "ratio" in config else list(config["ratios"])
    if config["method"] == "none":
        ratios = list(config["ratios"])  # interpolate is evaluated at the grid ratios
    rows, stats = train_cell(toy, config["method"], config["n"], range(config["seeds"]),
                             ratios)
    summary = cell_summary(rows, stats, config["method"])
    # Numbers only (TensorBoard logs numeric lists; strings would be rejected noisily),
    # 7 significant digits (every result is kept in Tune's experiment state).
    rows["method_id"] = [ALL_METHODS.index(m) for m in rows.pop("method")]
    compact = {f"rows/{k}": [float(f"{v:.7g}") if isinstance(v, float) else v for v in vs]
               for k, vs in rows.items()}
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "done.json").write_text(json.dumps(summary))
        tune_cli.report({**compact, **summary}, checkpoint=tune.Checkpoint.from_directory(tmp))


def cell_summary(rows: dict, stats: dict, method: str) -> dict:
    """Scalar metrics of a cell: its own method at the ratio best on validation."""
    own = pd.DataFrame(rows).query("method == @method")
    by = own.groupby("ratio")[["valid_log_loss", "test_log_loss", "test_accuracy"]].mean()
    r = by["valid_log_loss"].idxmin()
    return {METRIC: float(by.loc[r, "valid_log_loss"]),
            "eval/test_log_loss": float(by.loc[r, "test_log_loss"]),
            "eval/test_accuracy": float(by.loc[r, "test_accuracy"]),
            "eval/best_ratio": float(r),
            "fit/models": stats["models"], "fit/seconds": float(stats["fit_seconds"]),
            "fit/models_per_second": stats["models"] / max(stats["fit_seconds"], 1e-9),
            "fit/max_iterations": int(own["iterations"].max()),
            "fit/all_converged": bool(own["converged"].all())}


# --------------------------------------------------------------------------- Tuner


def run_sweep(args, sweep: LambdaSweepConfig, toy: ToyConfig):
    """Start or join Ray, then fit (or --resume) the Tuner; returns the ResultGrid."""
    from ray import tune

    tune_cli.init_ray(args)
    # Keeping 1 checkpoint per trial makes Tune save its experiment state after each
    # trial's (only) checkpoint, i.e. as soon as a cell has reported; that is the intent,
    # so Tune's "snapshotting triggered multiple times" warning is switched off.
    keep = tune.CheckpointConfig(num_to_keep=1)
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    base = {"ratios": list(sweep.ratios), "seeds": sweep.seeds, **asdict(toy)}
    if sweep.search == "grid":
        space = {"method": tune.grid_search(list(sweep.methods)),  # costly cells first
                 "n": tune.grid_search(sorted(sweep.sizes, reverse=True)), **base}
        return tune_cli.run_tuner(train_lambda_cell, space, args, metric=METRIC, mode="min",
                                  checkpoint_config=keep)
    search = optuna_search(sweep)
    return tune_cli.run_tuner(train_lambda_cell, base, args, metric=METRIC, mode="min",
                              search_alg=search, num_samples=search.total_trials,
                              checkpoint_config=keep)


def optuna_search(sweep: LambdaSweepConfig):
    """One seeded OptunaSearch over ``ratio`` per (method, n); ``none`` runs once per n."""
    from imm_ray.toy.search import GroupedSearch, optuna_ratio_search

    groups = [{"method": m, "n": n} for m in sweep.methods
              for n in sorted(sweep.sizes, reverse=True)]

    def make(group):
        if group["method"] == "none":
            return None
        return optuna_ratio_search(METRIC, sweep.optuna_max_ratio, seed=groups.index(group))

    return GroupedSearch(groups, make, sweep.optuna_trials, METRIC)


# --------------------------------------------------------------------------- analysis


def load_rows(result_grid) -> pd.DataFrame:
    """One row per (method, ratio, n, seed) from every finished trial."""
    if result_grid.num_errors:
        print(f"warning: {result_grid.num_errors} trial(s) failed:")
        for err in result_grid.errors:
            print(f"  {type(err).__name__}: {str(err).splitlines()[-1][:300]}")
    df = analysis.load_experiment(result_grid)
    rows = analysis.explode_lists(df, prefix="rows/", keep=[])
    rows["method"] = [ALL_METHODS[i] for i in rows.pop("method_id")]
    return rows[list(ROW_FIELDS)].sort_values(["method", "n", "ratio", "seed"],
                                              ignore_index=True)


def summarise(rows: pd.DataFrame, toy: ToyConfig) -> dict:
    best = report.best_ratios(rows)
    return {"best": best, "schedules": report.fit_schedules(best),
            "compare": report.compare(best) if {"imm", "none"} <= set(best.method) else None,
            "degradation": report.degradation(rows),
            "refs": report.reference_log_loss(toy),
            "show": report.show_sizes(rows["n"].unique())}


def write_outputs(rows: pd.DataFrame, tables: dict, out) -> tuple[str, list]:
    csv = analysis.write_csv(rows, out / "lambda_vs_n.csv", required=ROW_FIELDS)
    tables["best"].to_csv(out / "best_ratios.csv", index=False)
    (out / "schedules.json").write_text(json.dumps(
        {m: rep for m, (_, rep) in tables["schedules"].items()}, indent=2))
    show = [n for n in tables["show"] if n in (4, 8, 16, 32, 50)] or tables["show"][-3:]
    figs = [plots.plot_best_vs_n(tables["best"], tables["refs"], out / "loss_vs_n.png"),
            plots.plot_ratio_vs_n(tables["best"], tables["schedules"],
                                  out / "best_ratio_vs_n.png"),
            plots.plot_loss_vs_ratio(rows, show, out / "loss_vs_ratio.png")]
    return csv, [str(f) for f in figs]


def print_summary(tables: dict, rows: pd.DataFrame) -> None:
    refs = ", ".join(f"{k} {v:.3f}" for k, v in tables["refs"].items())
    print(f"\n{len(rows)} rows. Test log-loss at each method's best ratio (chosen on "
          f"validation), mean [95% CI] over seeds; reference: {refs}")
    print(report.best_markdown(tables["best"], tables["show"]))
    cmp_ = tables["compare"]
    if cmp_ is not None:
        sep = cmp_[cmp_.separated & (cmp_.n <= 20)]["n"].tolist()
        print(f"\nimm beats none with non-overlapping 95% CIs at n <= 20: {sep or 'nowhere'}")
    if not tables["degradation"].empty:
        print("\nLog-loss from the best ratio to the largest (n in 30..50):")
        print(report.degradation_markdown(tables["degradation"]))
    print("\nFitted ratio schedules (core.RatioSchedule):")
    print(report.schedules_text(tables["schedules"]))
    best, top = tables["best"], rows["ratio"].max()
    for method, part in best[best.method != "none"].groupby("method"):
        edge = part[part.ratio >= top]["n"].tolist()
        if len(edge) > len(part) / 2:
            print(f"note: {method}'s best ratio is the largest swept ({top:g}) at "
                  f"{len(edge)}/{len(part)} sizes; widen --ratios to see where it turns")


def main(argv=None) -> int:
    args, sweep, toy = parse_args(argv)            # 1. config, validated before Ray starts
    result_grid = run_sweep(args, sweep, toy)      # 2. Tuner: a trial per (method, n)
    rows = load_rows(result_grid)                  # 3. one row per (method, ratio, n, seed)
    tables = summarise(rows, toy)                  # 4. best ratios + CIs, schedules
    csv, figs = write_outputs(rows, tables, tune_cli.output_dir(args))  # 5. CSV + plots
    print_summary(tables, rows)
    tune_cli.print_outputs(csv, figs)
    return 1 if result_grid.num_errors else 0


if __name__ == "__main__":
    sys.exit(main())
