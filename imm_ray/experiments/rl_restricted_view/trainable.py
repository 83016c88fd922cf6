"""The restricted-view experiment (CartPole pole-only view): the trial config and trainable.

(Step 1, the restricted policies, and the sweep's plan are
:mod:`imm_ray.experiments.rl_restricted_view.steps`.)

- Step 2, :func:`train_view`: one Tune trial per (method, restricted checkpoint, seed):
  ``IMMPPO`` on the full environment trained to the largest budget and evaluated at every
  budget (a budget-b run is the first b iterations of a longer one). ``none`` trials are
  also evaluated as the ``interpolate`` baseline ``(1 - r) Q + r Pbar`` with every
  restricted checkpoint. Rows (one per method, checkpoint, budget, seed; string columns)
  and the resolved :class:`ViewTrialConfig` go out through :func:`imm_ray.sweep.report`.

Seeds are made in one place, :func:`trial_seed`: run ``i`` of every method shares its
RLlib seed (so its initial network) and its evaluation episodes, making comparisons
between methods paired.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from imm_ray import metrics as M
from imm_ray import sweep
from imm_ray.checks import check_memory
from imm_ray.config import from_dict

TRAINED = ("none", "imm", "reverse_kd")
"""Methods a trial trains; ``interpolate`` is evaluated from the ``none`` trials."""
METHODS = (*TRAINED, "interpolate")
ROW_FIELDS = ("config", "method", "restricted", "iterations", "seed", "imm_lambda", "ratio",
              "mean_return", "greedy_return")
PLAN_FIELDS = ("method", "run", "restricted", "restricted_paths")


@dataclass
class ViewTrialConfig:
    """Settings of every trial (Tune's param_space overrides them by name)."""

    env: str = "CartPole-v1"
    """Gymnasium environment id (Discrete or Box actions, 1-D Box observations)."""
    view: tuple[int, ...] = (2, 3)
    """Observation indices the restricted policy sees (CartPole: pole angle, angular vel.)."""
    imm_lambda: float = 0.5
    """Weight lambda of the IMM and reverse-KD terms."""
    interpolate_ratio: float = 0.5
    """r of the interpolate baseline (1 - r) Q + r Pbar at evaluation."""
    induced: str = "pool"
    """Induced-policy estimator: pool, neighbours or binned."""
    k: int = 16
    """Extended observations per batch row."""
    samples: int = 8
    """Box actions: actions m drawn from the restricted policy per batch row."""
    imm_every: int = 1
    """IMM and reverse-KD terms on every j-th minibatch update (1: every update)."""
    pool_size: int | None = None
    """Pool: None = the minibatch the loss sees; N = FIFO buffer of the last N rows."""
    bins: int = 8
    """Bins per restricted feature (binned estimator)."""
    budgets: tuple[int, ...] = (5, 10, 20, 40)
    """Training iterations at which every trial is evaluated."""
    train_batch: int = 1000
    """PPO train batch (env steps per iteration)."""
    minibatch: int = 128
    """PPO minibatch size."""
    num_epochs: int = 6
    """PPO epochs over each train batch."""
    lr: float = 1e-3
    """Adam learning rate (PPO and the step-1 restricted policy)."""
    hidden: int = 64
    """Width of both hidden layers of RLlib's default PPO MLP."""
    envs_per_runner: int = 4
    """Vectorised sub-environments sampling in each trial."""
    eval_episodes: int = 10
    """Evaluation episodes per seed and budget (sampled and greedy actions)."""
    checkpoint_every: int = 10
    """Iterations between RLlib checkpoints (also at the end)."""
    seed: int = 0
    """Base seed; run i's seed is derived from it (trial_seed)."""
    method: str = "none"
    """The trial's method: none, imm or reverse_kd (set by the plan, not a flag)."""
    run: int = 0
    """Seed index of the trial (set by the plan)."""
    restricted: str = ""
    """Label of the trial's restricted checkpoint (imm, reverse_kd; set by the plan)."""
    restricted_paths: tuple[str, ...] = ()
    """label=path of the restricted checkpoints the trial uses (set by the plan)."""


def check_trial(trial: ViewTrialConfig) -> None:
    """Raise ValueError naming the flag for any setting that would fail in the trial."""
    for name in ("k", "samples", "imm_every", "bins", "train_batch", "minibatch",
                 "num_epochs", "hidden", "envs_per_runner", "eval_episodes",
                 "checkpoint_every"):
        _check_int(f"--{name.replace('_', '-')}", getattr(trial, name))
    if trial.pool_size is not None:
        _check_int("--pool-size", trial.pool_size)
    for name, v, ok, allowed in (
            ("--lr", trial.lr, 0 < trial.lr <= 10, "in (0, 10]"),
            ("--imm-lambda", trial.imm_lambda, trial.imm_lambda >= 0, ">= 0"),
            ("--interpolate-ratio", trial.interpolate_ratio,
             0 <= trial.interpolate_ratio <= 1, "in [0, 1]")):
        if not (math.isfinite(v) and ok):
            raise ValueError(f"{name} must be a finite number {allowed}, got {v}")
    check_memory("--k", float(trial.minibatch) * trial.k * 2 * 4,  # logits, 2+ actions
                 f"the [--minibatch {trial.minibatch} * --k {trial.k}, actions] policy logits "
                 "of one IMM minibatch")
    if trial.minibatch > trial.train_batch:
        raise ValueError(f"--minibatch ({trial.minibatch}) must be at most --train-batch "
                         f"({trial.train_batch}): PPO splits each train batch into "
                         "minibatches")
    if not trial.budgets:
        raise ValueError("--budgets: give at least one budget")
    for b in trial.budgets:
        _check_int("--budgets", b)
    if trial.method not in TRAINED:
        raise ValueError(f"--methods: unknown {trial.method!r}; choose from {list(METHODS)}")
    if trial.induced not in ("pool", "neighbours", "binned"):
        raise ValueError(f"--induced must be pool, neighbours or binned, got {trial.induced!r}")
    check_against_env(trial)
    build_config(trial).validate()


def _check_int(flag: str, v) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{flag} must be an integer >= 1, got {v!r}")


def check_against_env(trial: ViewTrialConfig) -> None:
    """The learner's build-time checks, run on the environment's spaces in the driver:
    the view fits the observations, every restricted checkpoint loads, has the action
    count and accepts the view's contexts."""
    import gymnasium as gym

    from imm_ray.rl.restricted import check_restricted_setup
    from imm_ray.rl.views import select

    try:
        view = select(*trial.view)
    except ValueError as e:
        raise ValueError(f"--view: {e}") from e
    try:
        env = gym.make(trial.env)
    except gym.error.Error as e:
        raise ValueError(f"--env: no gymnasium environment {trial.env!r} ({e})") from e
    env.close()
    if not isinstance(env.action_space, (gym.spaces.Discrete, gym.spaces.Box)):
        raise ValueError(f"--env: {trial.env} has action space {env.action_space}; the "
                         "experiment needs Discrete or Box actions")
    try:
        view.space(env.observation_space)
    except ValueError as e:
        raise ValueError(f"--view: {e}") from e
    for label in paths_of(trial):
        try:
            check_restricted_setup(restricted_policy(trial, label), view,
                                   env.observation_space, env.action_space)
        except ValueError as e:  # 'given' is the user's flag; the others step 1's cache
            if label == "given":
                raise ValueError(f"--restricted-checkpoint: {e}") from e
            raise ValueError(f"step 1's saved policy {label}: {e}; finished trials used it: "
                             "restore the file, or start a new run (without --resume)") from e


def paths_of(trial: ViewTrialConfig) -> dict[str, str]:
    return dict(p.split("=", 1) for p in trial.restricted_paths)


def restricted_policy(trial: ViewTrialConfig, label: str):
    """The exchange format (no pickle: Discrete and Box policies). A folder without
    ``spec.json`` is a Box policy's RLlib checkpoint from a run made before Box policies
    had the format: its own run wrote it, so it is loaded from the checkpoint."""
    from pathlib import Path

    from imm_ray.rl.restricted import from_checkpoint, load

    path = paths_of(trial)[label]
    if (Path(path) / "spec.json").is_file():
        return load(path)
    return from_checkpoint(path, trust_pickle=True)


def trial_seed(trial: ViewTrialConfig) -> int:
    """The one place seeds are made: run ``i`` gets the same seed under every method."""
    return (trial.seed * 100_003 + trial.run) % 2**31


def ppo_settings(trial: ViewTrialConfig) -> dict:
    return {"train_batch_size_per_learner": trial.train_batch,
            "minibatch_size": trial.minibatch, "num_epochs": trial.num_epochs, "lr": trial.lr}


def build_config(trial: ViewTrialConfig, gpus: float = 0.0):
    """The trial's IMMPPO config (lambda 0 and no restricted policy for ``none``)."""
    import gymnasium as gym

    from imm_ray.rl.connectors import env_runner_settings_for
    from imm_ray.rl.ppo import IMMPPOConfig
    from imm_ray.rl.views import select

    imm = {} if trial.method == "none" else {
        "restricted_policy": restricted_policy(trial, trial.restricted),
        "imm_lambda": trial.imm_lambda, "method": trial.method, "every": trial.imm_every,
        "samples": trial.samples}
    runner_settings = env_runner_settings_for(gym.make(trial.env).action_space)
    return (IMMPPOConfig().environment(trial.env)
            .env_runners(num_env_runners=0, num_envs_per_env_runner=trial.envs_per_runner,
                         **runner_settings)
            .learners(num_gpus_per_learner=gpus)
            .training(**ppo_settings(trial))
            .rl_module(model_config={"fcnet_hiddens": [trial.hidden, trial.hidden]})
            .imm(restricted_view=select(*trial.view), induced=trial.induced, k=trial.k,
                 pool_size=trial.pool_size, bins=trial.bins, **imm)
            .debugging(seed=trial_seed(trial)))


def resolve_trial(config: dict) -> ViewTrialConfig:
    """A Tune trial config (fields plus ``plan``) as the checked dataclass."""
    config = dict(config)
    plan = config.pop("plan", {})
    trial = from_dict(ViewTrialConfig, {**config, **plan})
    check_trial(trial)
    return trial


# --------------------------------------------------------------------------- step 2


def train_view(config: dict) -> None:
    """One (method, restricted checkpoint, seed): train to the largest budget, evaluate
    at every budget, report once per iteration, rows and resolved config at the end."""
    import torch
    from ray import tune

    from imm_ray.rl.logdir import build_algo  # RLlib: imported in the trial, not for --help

    torch.set_num_threads(1)
    trial = resolve_trial(config)
    algo = build_algo(build_config(trial, gpus=learner_gpus()))  # log folder: the trial's
    state = {"iteration": 0, "rows": {k: [] for k in ROW_FIELDS}}
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            algo.restore_from_path(Path(d, "algo"))
            state = json.loads(Path(d, "state.json").read_text())
    last = max(trial.budgets)
    if state["iteration"] >= last:  # restored after its last iteration: report the rows again
        sweep.report({M.EPOCH: last}, rows=state["rows"], resolved=trial)
    for it in range(state["iteration"] + 1, last + 1):
        metrics = iteration_metrics(algo.train(), it)
        if it in trial.budgets:
            metrics[M.EVAL_MEAN_RETURN] = evaluate(algo, trial, it, state["rows"])
        state["iteration"] = it
        save = it % trial.checkpoint_every == 0 or it == last
        report(metrics, algo, state if save else None, trial if it == last else None)
    algo.stop()


def learner_gpus() -> float:
    """1 when Tune gave this trial a GPU that torch can see, else 0 (CPU)."""
    import ray
    import torch

    return 1.0 if ray.get_gpu_ids() and torch.cuda.is_available() else 0.0


def iteration_metrics(result: dict, iteration: int) -> dict:
    learner = result.get("learners", {}).get("default_policy", {})
    out = {M.EPOCH: iteration, M.LOSS_MAIN: float(learner.get(M.LOSS_MAIN, 0.0))}
    for name in (M.LOSS_IMM, M.LOSS_REVERSE_KD):
        if name in learner:
            out[name] = float(learner[name])
    # RLlib reports NaN when no episode ended this iteration (a policy that balances for
    # longer than the batch): leave the metric out rather than report a NaN
    episode_return = float(result.get("env_runners", {}).get("episode_return_mean", math.nan))
    if math.isfinite(episode_return):
        out[M.TRAIN_EPISODE_RETURN_MEAN] = episode_return
    return out


def evaluate(algo, trial: ViewTrialConfig, iteration: int, rows: dict) -> float:
    """Evaluate the trial's policy (and, for ``none``, ``interpolate`` with every restricted
    checkpoint) at ``iteration``; append the rows; return the policy's mean return."""
    from imm_ray.rl import evaluation as E
    from imm_ray.rl.views import select

    full = E.module_policy(algo.get_module())
    policies = [(trial.method, trial.restricted, trial.imm_lambda if trial.method != "none"
                 else 0.0, 0.0, full)]
    if trial.method == "none":
        for label in paths_of(trial):
            pbar = E.restricted_policy_of(restricted_policy(trial, label), select(*trial.view))
            r = trial.interpolate_ratio
            policies.append(("interpolate", label, 0.0, r, E.interpolated(full, pbar, r)))
    seed = 2_000_000 + 1000 * trial_seed(trial) + iteration  # the same for every method
    own = None
    for method, label, lam, ratio, policy in policies:
        sampled, greedy = (float(E.evaluate_episodes(policy, trial.env, trial.eval_episodes,
                                                     seed, greedy=g).mean())
                           for g in (False, True))
        own = sampled if own is None else own
        config = method if method == "none" else f"{method}:{label}"
        for k, v in zip(ROW_FIELDS, (config, method, label, iteration, trial.run, lam, ratio,
                                     sampled, greedy), strict=True):
            rows[k].append(v)
    return own


def report(metrics: dict, algo, state: dict | None, resolved: ViewTrialConfig | None) -> None:
    """Report; with ``state``, an RLlib checkpoint plus the rows so far (``state.json``, to
    resume); with ``resolved`` (the last iteration), the rows and config for the analysis."""
    from ray import tune

    if state is None:
        sweep.report(metrics)
        return
    with tempfile.TemporaryDirectory() as tmp:
        algo.save_to_path(Path(tmp, "algo"))
        Path(tmp, "state.json").write_text(json.dumps(state))
        sweep.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp),
                        rows=state["rows"] if resolved is not None else None,
                        resolved=None if resolved is None else asdict(resolved))
