"""How strongly to lean on the restricted model as data grows: lambda x n, on the logistic
toy or on any classification table.

What it shows (docs/method.md, 'Lambda schedules'; the toy: docs/lambda_vs_n.md, 'The
toy'): for training sets of n rows, a full model trained with IMM, reverse-KD, noising
(and prediction-time interpolation) at ratios r = lambda / (1 + lambda) from 0 to 0.999
(about uniform in log lambda), many seeds per cell; the best ratio per (method, n) chosen
on validation, test log-loss / accuracy with 95% intervals, a fitted ratio schedule per
method (schedules.json, loadable by core.make_schedule), and the consistency picture (from
its best ratio to r = 0.9 reverse-KD degrades, IMM does not; towards r = 0.999 both do).
docs/lambda_vs_n.md (the toy) and docs/tabular.md (tables) tell the full story.

Run:
    python sweeps/lambda_vs_n.py                      # the toy; local Ray (RAY_ADDRESS joins one)
    python sweeps/lambda_vs_n.py --quick              # small preset, < 1 minute
    python sweeps/lambda_vs_n.py --dataset my.csv --target label --restricted age income
    python sweeps/lambda_vs_n.py --dataset sklearn:breast_cancer --target target \\
        --restricted "worst perimeter"                # a table bundled with scikit-learn
    python sweeps/lambda_vs_n.py --search optuna      # best r per (method, n) by OptunaSearch
    python sweeps/lambda_vs_n.py --resume             # continue the newest interrupted sweep

Each Tune trial is one (method, n) cell fitting all seeds x ratios at once
(imm_ray.experiments.lambda_vs_n.trainable); it reports once, with its rows (string method column)
and resolved config in its checkpoint. Ends with the summary tables, then
``results: <csv>`` and ``plot: <png>`` lines.

Results to expect. The toy (default run: 100 trials, 132,500 rows; test log-loss over 100
seeds, IMM at its best ratio): n = 4: none 1.793, imm 0.524 (r = 0.995); n = 16: none
0.779, imm 0.444 (r = 0.95); n = 50: none 0.444, imm 0.412 (r = 0.9); fitted IMM
schedule r = -0.0023 n + 1.0005. Breast cancer (--dataset sklearn:breast_cancer --target
target --restricted "worst perimeter"; 32 trials): n = 4: none 1.183, imm 0.222
(r = 0.999); n = 171: none 0.116, imm 0.107 (r = 0.35); interpolation is best from
n = 12 on (docs/tabular.md).
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict

from imm_ray import sweep
from imm_ray.experiments.lambda_vs_n.cli import Run, parse_args
from imm_ray.experiments.lambda_vs_n.config import LambdaSweepConfig
from imm_ray.metrics import EVAL_VALID_LOG_LOSS

# torch, Ray and pandas are imported by the steps that use them, so that --help and a
# bad flag answer in a fraction of a second (benchmarks/cli_startup.py).

# --------------------------------------------------------------------------- config
# Every flag is a field of LambdaSweepConfig (the grid: --sizes, --ratios, --methods,
# --seeds, --search), FitConfig (--model, --l2, --tol, ...), ToyConfig (--weights, --rho,
# ...) or TabularConfig (--dataset, --target, --restricted, --aux-fraction,
# --restricted-kind, --induced, ...); parse_args resolves them into a Run and builds every
# grid point's cell config, so bad values stop here, before Ray starts.

# --------------------------------------------------------------------------- Tuner


def run_sweep(args, run: Run):
    """Start or join Ray, then fit (or --resume) the Tuner; returns the ResultGrid."""
    from ray import tune

    from imm_ray.experiments.lambda_vs_n.trainable import train_lambda_cell

    sweep.init_ray(args)
    # One checkpoint per trial (its rows) makes Tune save its experiment state as soon as
    # a cell has reported, which --resume relies on; its "snapshotting triggered multiple
    # times" warning says exactly that, so it is switched off.
    keep = tune.CheckpointConfig(num_to_keep=1)
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    base = {"seeds": run.sweep.seeds, "ratios": list(run.sweep.ratios), "fit": asdict(run.fit),
            "toy": run.toy and asdict(run.toy), "table": run.table and asdict(run.table),
            "dataset_sha256": run.sha256}
    sizes = sorted(run.sweep.sizes, reverse=True)  # costly cells first
    if run.sweep.search == "grid":
        space = {"method": tune.grid_search(list(run.sweep.methods)),
                 "n": tune.grid_search(sizes), **base}
        return sweep.run_tuner(train_lambda_cell, space, args, metric=EVAL_VALID_LOG_LOSS,
                                  mode="min", checkpoint_config=keep)
    search = optuna_search(run.sweep, sizes)
    return sweep.run_tuner(train_lambda_cell, base, args, metric=EVAL_VALID_LOG_LOSS,
                              mode="min", search_alg=search, num_samples=search.total_trials,
                              checkpoint_config=keep)


def optuna_search(sweep: LambdaSweepConfig, sizes):
    """One seeded OptunaSearch over ``ratio`` per (method, n); ``none`` runs once per n."""
    from imm_ray.experiments.lambda_vs_n.search import GroupedSearch, optuna_ratio_search

    groups = [{"method": m, "n": n} for m in sweep.methods for n in sizes]

    def make(group):
        if group["method"] == "none":
            return None
        return optuna_ratio_search(EVAL_VALID_LOG_LOSS, sweep.optuna_max_ratio,
                                   seed=groups.index(group))

    return GroupedSearch(groups, make, sweep.optuna_trials, EVAL_VALID_LOG_LOSS)


# --------------------------------------------------------------------------- report


def partial_note(rows, run: Run, args) -> str | None:
    """A warning when some trials have no rows (an interrupted sweep), else None."""
    sweep = run.sweep
    per_group = 1 if sweep.search == "grid" else sweep.optuna_trials
    expected = sum(1 if m == "none" else per_group for m in sweep.methods) * len(sweep.sizes)
    done = rows["trial_id"].nunique()
    if done >= expected:
        return None
    return (f"warning: PARTIAL results ({done} of {expected} trials finished); continue "
            f"with: {sweep.resume_command(args)}")


def main(argv=None) -> int:
    args, run = parse_args(argv, __doc__)  # 1. configs, validated before Ray starts
    from imm_ray.experiments.lambda_vs_n import report
    from imm_ray.experiments.lambda_vs_n.toy.trainer import reference_log_loss
    from imm_ray.tabular.trainer import ROW_FIELDS

    result_grid = run_sweep(args, run)             # 2. Tuner: a trial per (method, n)
    rows = sweep.finished_rows(                 # 3. one row per (method, ratio, n, seed)
        result_grid, args, [*ROW_FIELDS, "trial_id"], ["method", "n", "ratio", "seed"])
    partial = partial_note(rows, run, args)
    rows = rows.drop(columns="trial_id")
    refs = reference_log_loss(run.toy) if run.toy else {}
    tables = report.summarise(rows, refs)          # 4. best ratios + CIs, schedules
    csv, figs = report.write_outputs(rows, tables, sweep.output_dir(args))  # 5. files
    report.print_summary(tables, rows)
    if partial:
        print(partial)
    sweep.print_outputs(csv, figs)
    return 1 if result_grid.num_errors or partial else 0


if __name__ == "__main__":
    sys.exit(main())
