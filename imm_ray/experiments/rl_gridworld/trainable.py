"""The grid-world figure's Tune trainable: one (configuration, lambda group) per trial.

A trial trains ``seeds`` independent IMMPG members as one population algorithm
(:func:`imm_ray.experiments.rl_gridworld.presets.grid_population_config`) up to the group's largest
epoch
count, evaluates every member at each epoch count of the group (an n-epoch run is a
prefix of a longer one with the same ratio), reports once per epoch, checkpoints through
RLlib every ``checkpoint_every`` epochs, and at the end writes its rows (one per
(configuration, epochs, seed), string ``config`` column) and its resolved
:class:`GridTrialConfig` with :func:`imm_ray.sweep.report`. Seeding happens in one
place, :func:`trial_seed`.
"""

from __future__ import annotations

import json
import math
import tempfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

from imm_ray import metrics as M
from imm_ray import sweep
from imm_ray.config import from_dict, require_unique

CONFIGS = ("none", "imm_argmax", "imm_softmax_t1", "imm_softmax_t05", "interpolate")
"""Configurations: no IMM; IMM with the Bayes-optimal POMDP policy; IMM with
softmax(u / T), T = 1.0 and 0.5; interpolate (1 - r) Q + r Pbar(argmax) at evaluation."""
ROW_FIELDS = ("config", "epochs", "seed", "ratio", "lambda", "mean_return")
PLAN_FIELDS = ("config", "train_ratio", "epochs", "ratios")
MAX_LR = 10.0
"""Largest Adam learning rate accepted (Adam moves each weight by about lr per step)."""
MIN_REWARD_PEAK, MIN_REWARD_SPREAD = 1e-30, 1e-6
"""The reward mountain must be representable and not flat in float32."""


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
    config: str = "none"
    """The trial's configuration (one of CONFIGS; set by the plan, not a flag)."""
    train_ratio: float = 0.0
    """Ratio r the trial trains with (lambda = r / (1 - r) for IMM configurations)."""
    epochs: tuple[int, ...] = (10,)
    """Epoch counts the trial is evaluated at (its group)."""
    ratios: tuple[float, ...] = (0.0,)
    """Ratio recorded per epoch count (interpolate's evaluation mixing weight)."""


def load_schedule(spec: str):
    """A core schedule from a preset name or a ``--lambda-search`` JSON file; its numbers
    must be finite (a NaN slope or an infinite intercept is refused, not clipped)."""
    from imm_ray.core import make_schedule  # torch: imported when used, not for --help

    if not spec.endswith(".json"):
        return make_schedule(spec)
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"--schedule: no file {spec}")
    try:
        schedule = make_schedule(json.loads(path.read_text())["schedule"])
        numbers = {k: v for k, v in asdict(schedule).items() if k != "basis"}
        bad = {k: v for k, v in numbers.items() if not (v is None and k == "decimals") and not (
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))}
        if bad:
            raise ValueError(f"schedule values must be finite numbers, got {bad}")
    except (OSError, KeyError, TypeError, ValueError) as e:  # JSONDecodeError too
        raise ValueError(f"--schedule {spec}: {type(e).__name__}: {e}") from e
    return schedule


def plan_trials(configs, epochs, schedule_spec: str, search_ratios=None,
                search_epochs=None) -> list[dict]:
    """One trial plan per (configuration, lambda group), longest first (with
    ``search_ratios``: one ``imm_argmax`` trial per ratio at ``search_epochs``).

    Every epoch count of a group shares the training ratio, so one run of the group's
    largest size is evaluated at each of them. ``none`` and ``interpolate`` train with
    lambda = 0: one group each (interpolate mixes at the schedule's ratio per size).
    """
    if search_ratios is not None:
        return [{"config": "imm_argmax", "train_ratio": r, "epochs": list(search_epochs),
                 "ratios": [r] * len(search_epochs)} for r in search_ratios]
    schedule, sizes = load_schedule(schedule_spec), sorted(epochs)
    ratios = {n: round(schedule.ratio(n), 9) for n in sizes}
    plans = []
    for config in configs:
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


def plan_sweep(*, configs, epochs, schedule: str, lambda_search: bool, search_ratios,
               search_epochs, trial_fields: dict) -> list[dict]:
    """The sweep's trial plans, after checking every grid flag (ValueError naming it) and
    every trial's full config (:func:`check_trial`), so nothing fails only in a trial."""
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown or not configs:
        raise ValueError(f"--configs: unknown {unknown}; choose from {list(CONFIGS)}")
    for flag, values in (("--configs", configs), ("--epochs", epochs),
                         ("--search-ratios", search_ratios), ("--search-epochs", search_epochs)):
        require_unique(flag, values)
    for flag, sizes in (("--epochs", epochs), ("--search-epochs", search_epochs)):
        if not sizes or any(isinstance(n, bool) or not isinstance(n, int) or n < 1
                            for n in sizes):
            raise ValueError(f"{flag}: every size must be an integer >= 1, got {list(sizes)}")
    if not search_ratios or any(not 0.0 <= r < 1.0 for r in search_ratios):
        raise ValueError(f"--search-ratios must be in [0, 1), got {list(search_ratios)}")
    load_schedule(schedule)
    plans = plan_trials(configs, epochs, schedule, search_ratios if lambda_search else None,
                        search_epochs)
    base = from_dict(GridTrialConfig, trial_fields, strict=False)
    for plan in plans:
        resolve_trial({**asdict(base), "plan": plan})
    return plans


def resolve_trial(config: dict) -> GridTrialConfig:
    """A Tune trial config (fields plus ``plan``) as the checked dataclass."""
    config = dict(config)
    plan = config.pop("plan", {})
    trial = from_dict(GridTrialConfig, {**config, **plan})
    check_trial(trial)
    return trial


def check_trial(trial: GridTrialConfig) -> None:
    """Raise ValueError naming the flag for any setting that would fail in the trial."""
    from envs.mountain_grid import check_grid

    if trial.config not in CONFIGS:
        raise ValueError(f"--configs: unknown {trial.config!r}; choose from {list(CONFIGS)}")
    for name in ("seeds", "steps_per_epoch", "hidden", "eval_rollouts", "eval_length",
                 "checkpoint_every"):
        v = getattr(trial, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be an integer >= 1, got {v!r}")
    if not (math.isfinite(trial.lr) and 0 < trial.lr <= MAX_LR):
        raise ValueError(f"--lr must be in (0, {MAX_LR:g}], got {trial.lr}")
    if not 0 <= trial.gamma < 1:
        raise ValueError(f"--gamma must be in [0, 1), got {trial.gamma}")
    check_grid(trial.height, trial.width, trial.reward_cov, trial.wraparound)
    check_mountain("--reward-cov", trial)
    if trial.pomdp_reward_cov is not None:  # the check the trials' POMDP solve runs
        try:
            check_grid(trial.height, trial.width, trial.pomdp_reward_cov, trial.wraparound)
        except ValueError as e:
            raise ValueError(f"--pomdp-reward-cov: {e}") from e
        check_mountain("--pomdp-reward-cov", trial)
    build_config(trial).validate()  # the IMMPG config: lambda, restricted policy, ...


def check_mountain(flag: str, trial: GridTrialConfig) -> None:
    """A covariance so wide that the reward mountain is flat in float32 (``1e300``: every
    state pays ~1e-301, i.e. 0) leaves nothing to learn: refuse it, naming ``flag``."""
    from envs.mountain_grid import reward_table

    cov = trial.reward_cov if flag == "--reward-cov" else trial.pomdp_reward_cov
    rewards = reward_table(trial.height, trial.width, cov)
    if rewards.size < 2:
        return
    peak = float(rewards.max())
    spread = float(rewards.max() - rewards.min()) / peak if peak > 0 else 0.0
    if peak < MIN_REWARD_PEAK or spread < MIN_REWARD_SPREAD:
        raise ValueError(f"{flag} {cov!r} is too large: the reward mountain is flat (peak "
                         f"{peak:.3g}, max - min = {spread:.3g} of the peak; needs a peak >= "
                         f"{MIN_REWARD_PEAK:g} and a spread >= {MIN_REWARD_SPREAD:g}), so "
                         "every policy earns the same; use a smaller covariance (0.1 by "
                         "default)")


def restricted_spec(trial: GridTrialConfig):
    """The restricted policy of a configuration (interpolate mixes the Bayes-optimal)."""
    spec = {"none": None, "imm_argmax": {"kind": "argmax"}, "interpolate": {"kind": "argmax"},
            "imm_softmax_t1": {"kind": "softmax", "temperature": 1.0},
            "imm_softmax_t05": {"kind": "softmax", "temperature": 0.5}}[trial.config]
    if spec is not None and trial.pomdp_reward_cov is not None:
        spec["reward_cov"] = trial.pomdp_reward_cov
    return spec


def train_lambda(trial: GridTrialConfig) -> float:
    """The IMM weight a trial trains with: ``r / (1 - r)`` for IMM configurations, else 0."""
    from imm_ray.core import lambda_from_ratio

    return lambda_from_ratio(trial.train_ratio) if trial.config.startswith("imm_") else 0.0


def trial_seed(trial: GridTrialConfig) -> int:
    """The one place a trial's seed is made: base seed, configuration and group size."""
    key = f"{trial.config}/{max(trial.epochs)}".encode()
    return (trial.seed * 7919 + zlib.crc32(key)) % 2**31


def build_config(trial: GridTrialConfig):
    """The trial's IMMPG config: ``trial.seeds`` members on their own grids."""
    from imm_ray.experiments.rl_gridworld.presets import grid_population_config

    grid = {"height": trial.height, "width": trial.width, "reward_cov": trial.reward_cov,
            "wraparound": trial.wraparound}
    cfg = grid_population_config(
        trial.seeds, seed=trial_seed(trial), grid=grid, restricted_policy=restricted_spec(trial),
        imm_lambda=train_lambda(trial), lr=trial.lr, gamma=trial.gamma,
        steps_per_epoch=trial.steps_per_epoch, hidden=trial.hidden)
    return cfg.grid_evaluation(num_rollouts=trial.eval_rollouts,
                               rollout_length=trial.eval_length)


def train_rl_gridworld(config: dict) -> None:
    """One (configuration, lambda group): train, evaluate at the group's sizes, report."""
    import torch
    from ray import tune

    from imm_ray.rl.logdir import build_algo  # RLlib: imported in the trial, not for --help

    torch.set_num_threads(1)
    trial = resolve_trial(config)
    algo = build_algo(build_config(trial))  # its log folder in the trial folder
    state = {"epoch": 0, "rows": {k: [] for k in ROW_FIELDS}}
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            algo.restore_from_path(Path(d, "algo"))
            state = json.loads(Path(d, "rows.json").read_text())
    last = max(trial.epochs)
    if state["epoch"] >= last:  # restored after its last epoch: report the rows again
        sweep.report({M.EPOCH: last}, rows=state["rows"], resolved=trial)
    for epoch in range(state["epoch"] + 1, last + 1):
        metrics = epoch_metrics(algo.train(), epoch)
        if epoch in trial.epochs:
            metrics[M.EVAL_MEAN_RETURN] = evaluate(algo, trial, epoch, state["rows"])
        state["epoch"] = epoch
        save = epoch % trial.checkpoint_every == 0 or epoch == last
        report_with_checkpoint(metrics, algo, state if save else None,
                               trial if epoch == last else None)
    algo.stop()


def epoch_metrics(result: dict, epoch: int) -> dict:
    learner = result.get("learners", {}).get("default_policy", {})
    out = {M.EPOCH: epoch, M.LOSS_MAIN: float(learner.get(M.LOSS_MAIN, 0.0)),
           M.LOSS_IMM: float(learner.get(M.LOSS_IMM, 0.0))}
    # NaN when no episode ended this epoch (steps_per_epoch < episode_length): left out
    episode_return = float(result.get("env_runners", {}).get("episode_return_mean", math.nan))
    if math.isfinite(episode_return):
        out[M.TRAIN_EPISODE_RETURN_MEAN] = episode_return
    return out


def evaluate(algo, trial: GridTrialConfig, epoch: int, rows: dict) -> float:
    """Evaluate every seed at ``epoch``; append its rows; return the mean.

    Rows: ``ratio`` is the training ratio, or for ``interpolate`` the evaluation mixing
    weight; ``lambda`` is always the IMM weight the trial trained with (0 for
    ``interpolate``)."""
    ratio = trial.ratios[list(trial.epochs).index(epoch)]
    mix = ratio if trial.config == "interpolate" else 0.0
    returns = algo.evaluate_grid(interpolate_ratio=mix, greedy=trial.eval_greedy)
    for s, value in enumerate(returns):
        for k, v in zip(ROW_FIELDS, (trial.config, epoch, s, ratio, train_lambda(trial),
                                     float(value)), strict=True):
            rows[k].append(v)
    return float(returns.mean())


def report_with_checkpoint(metrics: dict, algo, state: dict | None,
                           resolved: GridTrialConfig | None) -> None:
    """Report; with ``state``, an RLlib checkpoint plus the rows so far (``rows.json``, to
    resume); with ``resolved`` (the last epoch), the rows and config for the analysis."""
    from ray import tune

    if state is None:
        sweep.report(metrics)
        return
    with tempfile.TemporaryDirectory() as tmp:
        algo.save_to_path(Path(tmp, "algo"))
        Path(tmp, "rows.json").write_text(json.dumps(state))
        rows = state["rows"] if resolved is not None else None
        sweep.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp), rows=rows,
                        resolved=None if resolved is None else asdict(resolved))
