"""POMDP policies help MDP policies: the paper's RL figure (IMM.md 7.3) through Tune + RLlib.

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

Each Tune trial is one (configuration, lambda group): an ``IMMPG`` algorithm training
all seeds at once as independent members of one population module, evaluated at every
epoch count of the group whose ratio is the same (an n-epoch run is a prefix of a longer
one). It reports once per epoch, checkpoints through RLlib every ``--checkpoint-every``
epochs, and reports its per-seed rows as lists under ``rows/`` at the end. Ends with the
measured table against the reference and ``results: <csv>`` / ``plot: <png>`` lines.

Results to expect (default run, measured 2026-11-23 on 2 cores shared with other jobs,
load average 10-14: 873 s wall including Ray start-up): mean total reward [95% CI] at 50
epochs none 2.4 [2.0, 2.8], IMM Bayes-optimal 10.1 [8.9, 11.2] (reference 2.5 / 8.8); at
500 epochs 19.0 [18.5, 19.6] / 19.3 [18.5, 20.0] (reference 18.7 / 19.4); 24 of 27
reference points within the CI or +-1.5 (the misses: softmax T = 1.0 at 50-100 epochs,
about 2 above the reference, whose POMDP was solved for covariance 0.3 — run with
``--pomdp-reward-cov 0.3`` to match it).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from imm_ray import analysis, tune_cli
from imm_ray.config import add_dataclass_args, from_dict
from imm_ray.core import lambda_from_ratio, make_schedule
from imm_ray.rl import report
from imm_ray.rl.report import CONFIGS, ROW_FIELDS

EXPERIMENT = "rl_gridworld"
SEARCH_EXPERIMENT = "rl_lambda_search"
"""--lambda-search runs' folder prefix: a plain --resume (newest rl_gridworld_*) never
restores a search and writes the figure from it."""

# --------------------------------------------------------------------------- config


@dataclass
class GridTrialConfig:
    """Settings of every trial (Tune's param_space overrides them by name)."""

    seeds: int = 30
    """Training seeds per (configuration, epochs): members of one population algorithm."""
    seed: int = 0
    """Base seed; each trial derives its own from it, its configuration and group."""
    steps_per_epoch: int = 50
    """Environment steps per seed per update (one trajectory from a random start)."""
    lr: float = 1e-2
    """Adam learning rate."""
    gamma: float = 0.9
    """Discount of the reward-to-go and of the POMDP solution."""
    hidden: int = 32
    """Hidden tanh units of the policy MLP."""
    height: int = 11
    """Grid rows."""
    width: int = 11
    """Grid columns."""
    reward_cov: float = 0.1
    """Covariance of the Gaussian reward mountain."""
    wraparound: bool = True
    """Torus (True) or walls (False)."""
    pomdp_reward_cov: float | None = None
    """Covariance the POMDP is solved with (default: the environment's; reference: 0.3)."""
    eval_rollouts: int = 10
    """Evaluation rollouts per seed."""
    eval_length: int = 22
    """Steps per evaluation rollout."""
    eval_greedy: bool = False
    """Evaluate with argmax actions (the reference's numbers match sampled actions)."""
    checkpoint_every: int = 100
    """Epochs between RLlib checkpoints (also at the end)."""


@dataclass
class GridSweepConfig:
    """What the sweep covers."""

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
    """Flags -> (args, sweep, trial); every error is reported before Ray starts."""
    parser = tune_cli.sweep_parser(__doc__.splitlines()[0], EXPERIMENT)
    add_dataclass_args(parser, GridSweepConfig)
    add_dataclass_args(parser, GridTrialConfig)
    if parser.parse_known_args(argv)[0].quick:
        parser.set_defaults(**QUICK)
    args = parser.parse_args(argv)
    try:
        sweep = from_dict(GridSweepConfig, vars(args), strict=False)
        trial = from_dict(GridTrialConfig, vars(args), strict=False)
        validate(sweep, trial)
        if sweep.lambda_search:
            args.experiment = SEARCH_EXPERIMENT
        tune_cli.validate_common(args)
    except ValueError as e:
        parser.error(str(e))
    return args, sweep, trial


def validate(sweep: GridSweepConfig, trial: GridTrialConfig) -> None:
    """Raise ValueError naming the flag for any bad setting."""
    unknown = [c for c in sweep.configs if c not in CONFIGS]
    if unknown or not sweep.configs:
        raise ValueError(f"--configs: unknown {unknown}; choose from {list(CONFIGS)}")
    for flag, sizes in (("--epochs", sweep.epochs), ("--search-epochs", sweep.search_epochs)):
        if not sizes or any(not isinstance(n, int) or n < 1 for n in sizes):
            raise ValueError(f"{flag}: every size must be an integer >= 1, got {list(sizes)}")
    if any(not 0.0 <= r < 1.0 for r in sweep.search_ratios) or not sweep.search_ratios:
        raise ValueError(f"--search-ratios must be in [0, 1), got {list(sweep.search_ratios)}")
    load_schedule(sweep.schedule)
    for name in ("seeds", "steps_per_epoch", "hidden", "eval_rollouts", "eval_length",
                 "checkpoint_every"):
        if getattr(trial, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got "
                             f"{getattr(trial, name)}")
    if not trial.lr > 0 or not 0 <= trial.gamma < 1:
        raise ValueError(f"--lr must be > 0 and --gamma in [0, 1), got {trial.lr}, "
                         f"{trial.gamma}")
    from envs.mountain_grid import check_grid

    check_grid(trial.height, trial.width, trial.reward_cov, trial.wraparound)
    if trial.pomdp_reward_cov is not None:  # the check the trials' POMDP solve runs
        try:
            check_grid(trial.height, trial.width, trial.pomdp_reward_cov, trial.wraparound)
        except ValueError as e:
            raise ValueError(f"--pomdp-reward-cov: {e}") from e


def load_schedule(spec: str):
    """A core schedule from a preset name or a ``--lambda-search`` JSON file."""
    if spec.endswith(".json"):
        path = Path(spec)
        if not path.is_file():
            raise ValueError(f"--schedule: no file {spec}")
        try:
            return make_schedule(json.loads(path.read_text())["schedule"])
        except (OSError, KeyError, TypeError, ValueError) as e:  # JSONDecodeError too
            raise ValueError(f"--schedule {spec}: {type(e).__name__}: {e}") from e
    return make_schedule(spec)


def plan_trials(sweep: GridSweepConfig) -> list[dict]:
    """One trial per (configuration, lambda group), longest first.

    Every epoch count of a group shares the training ratio, so one run of the group's
    largest size is evaluated at each of them. ``none`` and ``interpolate`` train with
    lambda = 0: one group each (interpolate mixes at the schedule's ratio per size).
    """
    if sweep.lambda_search:
        return [{"config": "imm_argmax", "train_ratio": r, "epochs": list(sweep.search_epochs),
                 "ratios": [r] * len(sweep.search_epochs)} for r in sweep.search_ratios]
    schedule, sizes = load_schedule(sweep.schedule), sorted(sweep.epochs)
    ratios = {n: round(schedule.ratio(n), 9) for n in sizes}
    plans = []
    for config in sweep.configs:
        if config.startswith("imm_"):
            for r in sorted(set(ratios.values())):
                group = [n for n in sizes if ratios[n] == r]
                plans.append({"config": config, "train_ratio": r, "epochs": group,
                              "ratios": [r] * len(group)})
        else:
            plans.append({"config": config, "train_ratio": 0.0, "epochs": sizes,
                          "ratios": [ratios[n] if config == "interpolate" else 0.0
                                     for n in sizes]})
    return sorted(plans, key=lambda p: -max(p["epochs"]))


# --------------------------------------------------------------------------- trainable


def restricted_spec(config: str, trial: GridTrialConfig):
    """The restricted policy of a configuration (interpolate mixes the Bayes-optimal)."""
    spec = {"none": None, "imm_argmax": {"kind": "argmax"}, "interpolate": {"kind": "argmax"},
            "imm_softmax_t1": {"kind": "softmax", "temperature": 1.0},
            "imm_softmax_t05": {"kind": "softmax", "temperature": 0.5}}[config]
    if spec is not None and trial.pomdp_reward_cov is not None:
        spec["reward_cov"] = trial.pomdp_reward_cov
    return spec


def train_lambda(plan: dict) -> float:
    """The IMM weight a trial trains with: ``r / (1 - r)`` for IMM configurations, else 0."""
    return lambda_from_ratio(plan["train_ratio"]) if plan["config"].startswith("imm_") else 0.0


def build_algo(trial: GridTrialConfig, plan: dict):
    """The trial's IMMPG algorithm: ``trial.seeds`` members on their own grids."""
    from imm_ray.rl.presets import grid_population_config

    config = plan["config"]
    seed = (trial.seed * 7919 + zlib.crc32(f"{config}/{max(plan['epochs'])}".encode())) % 2**31
    grid = {"height": trial.height, "width": trial.width, "reward_cov": trial.reward_cov,
            "wraparound": trial.wraparound}
    cfg = grid_population_config(
        trial.seeds, seed=seed, grid=grid, restricted_policy=restricted_spec(config, trial),
        imm_lambda=train_lambda(plan), lr=trial.lr, gamma=trial.gamma,
        steps_per_epoch=trial.steps_per_epoch, hidden=trial.hidden)
    return cfg.grid_evaluation(num_rollouts=trial.eval_rollouts,
                               rollout_length=trial.eval_length).build_algo()


def train_rl_gridworld(config: dict) -> None:
    """One (configuration, lambda group): train, evaluate at the group's sizes, report."""
    import torch
    from ray import tune

    torch.set_num_threads(1)
    config = dict(config)
    plan = config.pop("plan")
    trial = from_dict(GridTrialConfig, config)
    algo = build_algo(trial, plan)
    state = {"epoch": 0, "rows": {k: [] for k in ROW_FIELDS}}
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            algo.restore_from_path(Path(d, "algo"))
            state = json.loads(Path(d, "rows.json").read_text())
    last = max(plan["epochs"])
    if state["epoch"] >= last:  # restored after its last epoch: report the rows again
        tune_cli.report({f"rows/{k}": v for k, v in encode_rows(state["rows"]).items()})
    for epoch in range(state["epoch"] + 1, last + 1):
        metrics = epoch_metrics(algo.train(), epoch)
        if epoch in plan["epochs"]:
            metrics["eval/mean_return"] = evaluate(algo, plan, epoch, state["rows"],
                                                   trial.eval_greedy)
        state["epoch"] = epoch
        if epoch == last:
            metrics.update({f"rows/{k}": v for k, v in encode_rows(state["rows"]).items()})
        save = epoch % trial.checkpoint_every == 0 or epoch == last
        report_with_checkpoint(metrics, algo, state if save else None)
    algo.stop()


def epoch_metrics(result: dict, epoch: int) -> dict:
    learner = result.get("learners", {}).get("default_policy", {})
    runners = result.get("env_runners", {})
    out = {"epoch": epoch, "loss/main": float(learner.get("loss/main", 0.0)),
           "loss/imm": float(learner.get("loss/imm", 0.0))}
    if "episode_return_mean" in runners:
        out["train/episode_return_mean"] = float(runners["episode_return_mean"])
    return out


def evaluate(algo, plan: dict, epoch: int, rows: dict, greedy: bool) -> float:
    """Evaluate every seed at ``epoch``; append its rows; return the mean.

    Rows: ``ratio`` is the training ratio, or for ``interpolate`` the evaluation mixing
    weight; ``lambda`` is always the IMM weight the trial trained with (0 for
    ``interpolate``)."""
    ratio = plan["ratios"][plan["epochs"].index(epoch)]
    mix = ratio if plan["config"] == "interpolate" else 0.0
    returns = algo.evaluate_grid(interpolate_ratio=mix, greedy=greedy)
    for s, value in enumerate(returns):
        for k, v in zip(ROW_FIELDS, (plan["config"], epoch, s, ratio, train_lambda(plan),
                                     float(value)), strict=True):
            rows[k].append(v)
    return float(returns.mean())


def encode_rows(rows: dict) -> dict:
    """Numbers only (TensorBoard logs numeric lists): configs as their CONFIGS index."""
    return {**rows, "config": [CONFIGS.index(c) for c in rows["config"]]}


def report_with_checkpoint(metrics: dict, algo, state: dict | None) -> None:
    from ray import tune

    if state is None:
        tune_cli.report(metrics)
        return
    with tempfile.TemporaryDirectory() as tmp:
        algo.save_to_path(Path(tmp, "algo"))
        Path(tmp, "rows.json").write_text(json.dumps(state))
        tune_cli.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))


# --------------------------------------------------------------------------- Tuner


def run_sweep(args, sweep: GridSweepConfig, trial: GridTrialConfig):
    """Start or join Ray, then fit (or --resume) the Tuner; returns the ResultGrid."""
    from ray import tune

    tune_cli.init_ray(args)
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    space = {"plan": tune.grid_search(plan_trials(sweep)), **asdict(trial)}
    return tune_cli.run_tuner(train_rl_gridworld, space, args,
                              checkpoint_config=tune.CheckpointConfig(num_to_keep=1))


# --------------------------------------------------------------------------- analysis


def load_rows(result_grid) -> pd.DataFrame:
    """One row per (config, epochs, seed) from every finished trial."""
    for err in result_grid.errors:
        print(f"warning: trial failed: {type(err).__name__}: {str(err).splitlines()[-1][:300]}")
    df = analysis.load_experiment(result_grid)
    if "rows/seed" not in df.columns or df["rows/seed"].isna().all():
        raise SystemExit("no trial has finished yet; continue with --resume")
    rows = analysis.explode_lists(df.dropna(subset=["rows/seed"]), prefix="rows/", keep=[])
    rows["config"] = [CONFIGS[int(i)] for i in rows["config"]]
    return rows[list(ROW_FIELDS)].sort_values(["config", "epochs", "seed"], ignore_index=True)


def write_search(rows: pd.DataFrame, out: Path) -> tuple[str, list[str]]:
    """--lambda-search: best ratio per size, fitted schedule (JSON), table, plot."""
    table = report.search_table(rows)
    best = table[table.best].sort_values("epochs")
    schedule, fit = analysis.fit_schedule(best, x="epochs", y="ratio", decimals=1)
    spec = {"slope": schedule.slope, "intercept": schedule.intercept,
            "basis": schedule.basis, "decimals": 1}
    path = out / "fitted_schedule.json"
    path.write_text(json.dumps({"schedule": spec, "fit": fit,
                                "best": best.to_dict(orient="records")}, indent=2))
    print(report.search_text(table, schedule, fit, load_schedule("reference_rl")))
    print(f"schedule: {path}  (run the figure with --schedule {path})")
    csv = analysis.write_csv(rows, out / "lambda_search.csv", required=ROW_FIELDS)
    table.to_csv(out / "lambda_search_table.csv", index=False)
    fig = analysis.plot_with_ci(table, x="ratio",
                                hue="epochs", path=out / "lambda_search.png",
                                ylabel="mean total reward", title="imm_argmax: ratio search")
    return csv, [str(fig)]


def write_figure(rows: pd.DataFrame, out: Path) -> tuple[str, list[str]]:
    """The figure: CSV, table vs the reference, acceptance checks, plot."""
    agg = report.aggregate(rows)
    agg.to_csv(out / "rl_gridworld_summary.csv", index=False)
    print(report.figure_text(agg))
    csv = analysis.write_csv(rows, out / "rl_gridworld.csv", required=ROW_FIELDS)
    return csv, [report.plot(agg, out / "rl_gridworld.png", "MountainGrid 11x11: IMM vs none")]


def main(argv=None) -> int:
    args, sweep, trial = parse_args(argv)          # 1. config, validated before Ray starts
    result_grid = run_sweep(args, sweep, trial)    # 2. Tuner: a trial per (config, group)
    rows = load_rows(result_grid)                  # 3. one row per (config, epochs, seed)
    out = tune_cli.output_dir(args)                # 4. tables, checks, CSV, plot
    write = write_search if sweep.lambda_search else write_figure
    csv, figs = write(rows, out)
    tune_cli.print_outputs(csv, figs)
    return 1 if result_grid.num_errors else 0


if __name__ == "__main__":
    sys.exit(main())
