"""A restricted view helps the full policy: IMM on CartPole-v1 with a pole-only policy.

What it shows: a PPO policy that sees the whole CartPole state (cart position, cart
velocity, pole angle, pole angular velocity) trained with IMM against a restricted policy
that sees only (pole angle, pole angular velocity). Step 1 trains that restricted policy
with plain RLlib PPO on the view environment and caches an early and a late checkpoint in
the experiment folder (their own returns are printed). Step 2 trains IMMPPO for each
method — none, imm (induced policy matched to the restricted one, estimated from a pool
of recent observations with the pole part spliced in), reverse_kd (per-sample CE to the
restricted policy) and interpolate ((1 - r) Q + r Pbar of the none policies at
evaluation) — with each restricted checkpoint, 10 seeds, evaluated after 5, 10, 20 and 40
iterations of 1,000 steps: mean episode return with 95% CIs, paired differences to none,
a CSV and a plot. docs/rl_restricted_view.md has the full story.

Run:
    python sweeps/rl_restricted_view.py                 # the default, local Ray
    python sweeps/rl_restricted_view.py --quick         # 2 seeds x 2 budgets, < 1 minute
    python sweeps/rl_restricted_view.py --resume        # continue the newest interrupted run
    python sweeps/rl_restricted_view.py --restricted-checkpoint PATH   # skip step 1
    python sweeps/rl_restricted_view.py --env Acrobot-v1 --view 0 1 2 3 --induced neighbours --k 8
    python sweeps/rl_restricted_view.py --env Pendulum-v1 --view 0 1 --samples 8   # Box actions

Each Tune trial is one (method, restricted checkpoint, seed)
(imm_ray.experiments.rl_restricted_view.trainable):
it trains to the largest budget, evaluates at every budget, checkpoints through RLlib and
writes its rows (rows.parquet, string columns) and resolved config at the end. Every
trial's config is checked in the driver (before Ray starts; the restricted checkpoints
again once step 1 has made them). Ends with the tables
(imm_ray.experiments.rl_restricted_view.report) and the
``results: <csv>`` / ``plot: <png>`` lines.

Results to expect: see docs/rl_restricted_view.md (measured table, command, date, load).
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, replace

from imm_ray import sweep
from imm_ray.config import add_dataclass_args, from_dict
from imm_ray.experiments.rl_restricted_view.steps import (
    check_strength,
    check_sweep,
    own_returns,
    plan_trials,
    print_returns,
    train_restricted_policies,
)
from imm_ray.experiments.rl_restricted_view.trainable import (
    METHODS,
    PLAN_FIELDS,
    ROW_FIELDS,
    ViewTrialConfig,
    check_trial,
    train_view,
)
from imm_ray.sweep.run import fail

EXPERIMENT = "rl_restricted_view"

# --------------------------------------------------------------------------- config


@dataclass
class ViewSweepConfig:
    """What the sweep covers (the trial settings are ViewTrialConfig's flags)."""

    methods: tuple[str, ...] = METHODS
    """Methods: none imm reverse_kd interpolate (interpolate evaluates the none policies)."""
    seeds: int = 10
    """Seeds per method and restricted checkpoint (run i shares its init across methods)."""
    restricted_checkpoint: str = ""
    """A policy trained on the view, saved by imm_ray.rl.restricted.save: skips step 1
    (label 'given'); an RLlib checkpoint needs --trust-pickle."""
    trust_pickle: bool = False
    """Allow --restricted-checkpoint to be an RLlib checkpoint (pickle files: only yours)."""
    allow_weak_restricted: bool = False
    """Run step 2 even if a restricted policy is no better than uniform-random on its view."""
    restricted_iterations: int = 30
    """Step 1: PPO iterations of the restricted policy on the view env ('late')."""
    restricted_early: int = 1
    """Step 1: iteration of the 'early' (weak) checkpoint; 0 for none."""


QUICK = {"seeds": 2, "budgets": (1, 2), "restricted_iterations": 2, "restricted_early": 1,
         "eval_episodes": 2, "train_batch": 256, "minibatch": 64, "checkpoint_every": 1,
         "allow_weak_restricted": True}
"""--quick: 10 trials of 2 iterations of 256 steps, about a minute with Ray start-up (its
step-1 policies are too short-trained to beat random: a warning, not a stop)."""


def parse_args(argv=None):
    """Flags -> (args, settings, trial); every trial's config is checked before Ray starts."""
    parser = sweep.sweep_parser(__doc__, EXPERIMENT)
    add_dataclass_args(parser, ViewSweepConfig, choices={"methods": METHODS})
    add_dataclass_args(parser, ViewTrialConfig, skip=PLAN_FIELDS)
    if parser.parse_known_args(argv)[0].quick:
        parser.set_defaults(**QUICK)
    args = sweep.parse_sweep_args(parser, argv)
    args.restricted_checkpoint = sweep.local_path(args.restricted_checkpoint)  # ~, relative
    try:
        settings = from_dict(ViewSweepConfig, vars(args), strict=False)
        trial = from_dict(ViewTrialConfig, vars(args), strict=False)
        check_sweep(trial, **asdict(settings))
    except ValueError as e:
        parser.error(str(e))
    return args, settings, trial


# --------------------------------------------------------------------------- step 1


def restricted_policies(args, settings: ViewSweepConfig, trial: ViewTrialConfig) -> dict:
    """The restricted checkpoints: --restricted-checkpoint, or step 1's (cached)."""
    from imm_ray.rl import restricted, restricted_io
    from imm_ray.rl.views import select

    out = sweep.output_dir(args) / "restricted"
    if settings.restricted_checkpoint:
        path = settings.restricted_checkpoint
        if settings.trust_pickle and not restricted_io.is_saved_policy(path):
            path = restricted.save(restricted.from_checkpoint(path, trust_pickle=True),
                                   out / "given", view=select(*trial.view))
            print(f"--restricted-checkpoint converted to the exchange format: {path}")
        found = {"given": {"path": str(path), "iteration": 0,
                           **own_returns(restricted.load(path), trial)}}
        print_returns("given", found["given"])
        return found
    print(f"step 1: restricted policy on {trial.env} view {list(trial.view)} -> {out}")
    return train_restricted_policies(trial, out, settings.restricted_iterations,
                                     settings.restricted_early)


# --------------------------------------------------------------------------- Tuner


def run_sweep(args, trial: ViewTrialConfig, plans: list[dict]):
    """Fit (or --resume) the Tuner of step 2; returns the ResultGrid."""
    from ray import tune

    fields = {k: v for k, v in asdict(trial).items() if k not in PLAN_FIELDS}
    space = {"plan": tune.grid_search(plans), **fields}
    return sweep.run_tuner(train_view, space, args,
                              checkpoint_config=tune.CheckpointConfig(num_to_keep=1))


# --------------------------------------------------------------------------- report


def main(argv=None) -> int:
    args, settings, trial = parse_args(argv)              # 1. config, checked before Ray
    from imm_ray.experiments.rl_restricted_view import report as view_report

    sweep.init_ray(args)                            # 2. Ray, then step 1 (cached)
    try:                                               # 3. each policy learned, fits
        sweep.trial_resources(args)  # a node can run a step-2 trial: before step 1 trains
        restricted = restricted_policies(args, settings, trial)
        check_strength(restricted, settings.allow_weak_restricted)
        plans = plan_trials(settings.methods, settings.seeds,
                            {k: v["path"] for k, v in restricted.items()})
        for plan in plans:
            check_trial(replace(trial, **plan))
    except ValueError as e:
        fail(str(e))  # error: ... and exit 2, before step 2
    result_grid = run_sweep(args, trial, plans)        # 4. step 2: the Tuner
    rows = sweep.finished_rows(                     # 5. rows -> tables, CSV, plot
        result_grid, args, ROW_FIELDS, ["config", "iterations", "seed"])
    rows = rows[rows.method.isin(settings.methods)]
    csv, figs = view_report.write_outputs(rows, restricted, sweep.output_dir(args),
                                          trial.env)
    sweep.print_outputs(csv, figs)
    return 1 if result_grid.num_errors else 0


if __name__ == "__main__":
    sys.exit(main())
