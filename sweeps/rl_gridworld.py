"""POMDP policies help MDP policies: the paper's RL figure through Tune + RLlib.

Protocol and reference numbers: docs/rl_gridworld.md, 'Protocol'.

What it shows: on the 11 x 11 MountainGrid torus, a REINFORCE policy that sees the whole
state learns faster when its induced policy (averaged over the hidden row) is matched to
a solved POMDP policy. Configurations: none, IMM with the Bayes-optimal POMDP policy,
IMM with softmax(u / T) for T = 1.0 and 0.5, and interpolate ((1 - r) Q + r Pbar at
evaluation); 10..500 epochs of 50 steps; 30 seeds; evaluation 10 rollouts x 22 steps;
lambda = r / (1 - r) with r from the schedule (the reference rule by default).

Run:
    python sweeps/rl_gridworld.py                       # the whole figure, local Ray
    python sweeps/rl_gridworld.py --quick               # 5 configs x 2 sizes x 4 seeds
    python sweeps/rl_gridworld.py --lambda-search       # ratio 0.0-0.9 at 50/200/400 epochs,
                                                        # fits and saves a schedule JSON
    python sweeps/rl_gridworld.py --schedule results/<search>/fitted_schedule.json
    python sweeps/rl_gridworld.py --resume              # continue the newest interrupted run
                                                        # (with --lambda-search: search)
    python sweeps/rl_gridworld.py --address auto --storage-path s3://bucket/imm

Each Tune trial is one (configuration, lambda group) (imm_ray.experiments.rl_gridworld.trainable):
an
``IMMPG`` algorithm training all seeds at once as independent members of one population
module, evaluated at every epoch count of the group whose ratio is the same (an n-epoch
run is a prefix of a longer one). It reports once per epoch, checkpoints through RLlib
every ``--checkpoint-every`` epochs, and writes its per-seed rows (``rows.parquet``, a
string ``config`` column) and resolved config at the end. Every trial's config is checked
before Ray starts. Ends with the measured table against the reference (imm_ray.rl.
grid_report) and ``results: <csv>`` / ``plot: <png>`` lines; docs/rl_gridworld.md has the
full story.

Results to expect (default run, measured 2026-11-23 on 2 cores shared with other jobs,
load average 10-14: 873 s wall including Ray start-up): mean total reward [95% CI] at 50
epochs none 2.4 [2.0, 2.8], IMM Bayes-optimal 10.1 [8.9, 11.2] (reference 2.5 / 8.8); at
500 epochs 19.0 [18.5, 19.6] / 19.3 [18.5, 20.0] (reference 18.7 / 19.4); 24 of 27
reference points within the CI or +-1.5 (the misses: softmax T = 1.0 at 50-100 epochs,
about 2 above the reference, whose POMDP was solved for covariance 0.3 — run with
``--pomdp-reward-cov 0.3`` to match it).
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass

from imm_ray import sweep
from imm_ray.config import add_dataclass_args, from_dict
from imm_ray.experiments.rl_gridworld.trainable import (
    CONFIGS,
    PLAN_FIELDS,
    ROW_FIELDS,
    GridTrialConfig,
    plan_sweep,
    train_rl_gridworld,
)

EXPERIMENT = "rl_gridworld"
SEARCH_EXPERIMENT = "rl_lambda_search"
"""--lambda-search runs' folder prefix: a plain --resume (newest rl_gridworld_*) never
restores a search and writes the figure from it."""

# --------------------------------------------------------------------------- config


@dataclass
class GridSweepConfig:
    """What the sweep covers (the trial settings are GridTrialConfig's flags)."""

    configs: tuple[str, ...] = CONFIGS
    """Configurations: none imm_argmax imm_softmax_t1 imm_softmax_t05 interpolate."""
    epochs: tuple[int, ...] = (10, 20, 30, 40, 50, 75, 100, 150, 200, 250, 300, 350, 400,
                               450, 500)
    """Dataset sizes n: epochs of training."""
    schedule: str = "reference_rl"
    """Ratio schedule: 'reference_rl' (r = round(-0.0002 n + 0.1891, 1)) or a JSON file."""
    lambda_search: bool = False
    """Instead: search ratios for imm_argmax and fit a schedule."""
    search_ratios: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    """--lambda-search: ratios r tried."""
    search_epochs: tuple[int, ...] = (50, 200, 400)
    """--lambda-search: sizes n at which the best ratio is chosen."""


QUICK = {"epochs": (10, 20), "seeds": 4, "search_ratios": (0.0, 0.5),
         "search_epochs": (10, 20), "checkpoint_every": 10}
"""--quick: 5 trials of 4 seeds x 20 epochs, under a minute including Ray start-up."""


def parse_args(argv=None):
    """Flags -> (args, settings, plans); every trial's config is checked before Ray starts."""
    parser = sweep.sweep_parser(__doc__, EXPERIMENT)
    add_dataclass_args(parser, GridSweepConfig, choices={"configs": CONFIGS})
    add_dataclass_args(parser, GridTrialConfig, skip=PLAN_FIELDS)
    known = parser.parse_known_args(argv)[0]
    if known.quick:
        parser.set_defaults(**QUICK)
    if known.lambda_search:
        parser.set_defaults(experiment=SEARCH_EXPERIMENT)
    args = sweep.parse_sweep_args(parser, argv)
    if args.schedule.endswith(".json"):
        args.schedule = sweep.local_path(args.schedule)  # ~ and relative paths
    try:
        settings = from_dict(GridSweepConfig, vars(args), strict=False)
        plans = plan_sweep(**asdict(settings), trial_fields=trial_flags(args))
    except ValueError as e:
        parser.error(str(e))
    return args, settings, plans


def trial_flags(args) -> dict:
    """The flags that are GridTrialConfig fields; the plan's fields are not flags (and
    ``args.config`` is the shared ``--config FILE``, not a trial's configuration)."""
    return {k: v for k, v in vars(args).items() if k not in PLAN_FIELDS}


# --------------------------------------------------------------------------- Tuner


def run_sweep(args, plans: list[dict]):
    """Start or join Ray, then fit (or --resume) the Tuner; returns the ResultGrid."""
    from ray import tune

    sweep.init_ray(args)
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    trial = from_dict(GridTrialConfig, trial_flags(args), strict=False)
    fields = {k: v for k, v in asdict(trial).items() if k not in PLAN_FIELDS}
    space = {"plan": tune.grid_search(plans), **fields}
    return sweep.run_tuner(train_rl_gridworld, space, args,
                              checkpoint_config=tune.CheckpointConfig(num_to_keep=1))


# --------------------------------------------------------------------------- report


def main(argv=None) -> int:
    args, settings, plans = parse_args(argv)          # 1. config, every trial checked
    from imm_ray.experiments.rl_gridworld import report as grid_report  # torch, pandas

    result_grid = run_sweep(args, plans)           # 2. Tuner: a trial per (config, group)
    rows = sweep.finished_rows(                 # 3. one row per (config, epochs, seed)
        result_grid, args, ROW_FIELDS, ["config", "epochs", "seed"])
    out = sweep.output_dir(args)                # 4. tables, checks, CSV, plot
    write = grid_report.write_search if settings.lambda_search else grid_report.write_figure
    csv, figs = write(rows, out)
    sweep.print_outputs(csv, figs)
    return 1 if result_grid.num_errors else 0


if __name__ == "__main__":
    sys.exit(main())
