"""The driver side of the restricted-view experiment: sweep checks, step 1, the plan.

- :func:`check_sweep`: every flag of the sweep and every trial's config (with the
  restricted checkpoints when they are known), ValueError naming the flag.
- :func:`train_restricted_policies` (step 1): plain RLlib PPO on the restricted-view
  environment (:class:`~imm_ray.rl.views.RestrictedViewWrapper`), saved as RLlib
  checkpoints at an early and at the last iteration under ``<experiment>/restricted/``,
  with each policy's own return on its view; cached there (``summary.json``) and reused.
- :func:`plan_trials`: one trial plan per (method, restricted checkpoint, seed).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from imm_ray.config import require_unique
from imm_ray.experiments.rl_restricted_view.trainable import (
    METHODS,
    ViewTrialConfig,
    check_trial,
    ppo_settings,
)


def check_sweep(trial: ViewTrialConfig, *, methods, seeds: int, restricted_checkpoint: str,
                restricted_iterations: int, restricted_early: int) -> None:
    """Raise ValueError naming the flag; checks every trial (checkpoints, when given)."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"--methods: unknown {unknown}; choose from {list(METHODS)}")
    require_unique("--methods", methods)
    require_unique("--budgets", trial.budgets)
    require_unique("--view", trial.view)
    for flag, v, low in (("--seeds", seeds, 1), ("--restricted-iterations",
                         restricted_iterations, 1), ("--restricted-early", restricted_early, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{flag} must be an integer >= {low}, got {v!r}")
    if restricted_early >= restricted_iterations:
        raise ValueError(f"--restricted-early ({restricted_early}) must be below "
                         f"--restricted-iterations ({restricted_iterations})")
    if restricted_checkpoint and not Path(restricted_checkpoint).exists():
        raise ValueError(f"--restricted-checkpoint: no checkpoint at "
                         f"{restricted_checkpoint!r} (path does not exist)")
    if restricted_checkpoint:
        for plan in plan_trials(methods, seeds, {"given": restricted_checkpoint}):
            check_trial(replace(trial, **plan))
    else:  # step 1 makes the checkpoints: check the rest of every trial now
        for run in range(seeds):
            check_trial(replace(trial, run=run))


def plan_trials(methods, seeds: int, paths: dict[str, str]) -> list[dict]:
    """One plan per (method, restricted checkpoint, seed); ``none`` trials also carry every
    checkpoint for the interpolate baseline."""
    every = tuple(f"{label}={path}" for label, path in paths.items())
    plans = []
    for run in range(seeds):
        if {"none", "interpolate"} & set(methods):
            plans.append({"method": "none", "run": run, "restricted": "",
                          "restricted_paths": every if "interpolate" in methods else ()})
        for method in [m for m in ("imm", "reverse_kd") if m in methods]:
            plans += [{"method": method, "run": run, "restricted": label,
                       "restricted_paths": (f"{label}={path}",)}
                      for label, path in paths.items()]
    return plans


def train_restricted_policies(trial: ViewTrialConfig, out: Path, iterations: int,
                              early: int) -> dict[str, dict]:
    """Plain PPO on the restricted-view env; checkpoints ``early`` (0: none) and ``late``
    (the last of ``iterations``) under ``out``, each with its own return on its view.
    Cached: a finished step 1 (``out/summary.json``) is read back, not re-run."""
    summary = out / "summary.json"
    if summary.is_file():
        return json.loads(summary.read_text())
    import gymnasium as gym
    from ray.rllib.algorithms.ppo import PPOConfig

    from imm_ray.rl.connectors import env_runner_settings_for
    from imm_ray.rl.views import register_view_env, select

    view = select(*trial.view)
    algo = (PPOConfig().environment(register_view_env(trial.env, view))
            .env_runners(num_env_runners=0, num_envs_per_env_runner=trial.envs_per_runner,
                         **env_runner_settings_for(gym.make(trial.env).action_space))
            .training(**ppo_settings(trial))
            .rl_module(model_config={"fcnet_hiddens": [trial.hidden, trial.hidden]})
            .debugging(seed=trial.seed + 7)).build_algo()
    saves = {early: "early", iterations: "late"} if early else {iterations: "late"}
    found = {}
    for it in range(1, iterations + 1):
        algo.train()
        if it in saves:
            label = saves[it]
            path = algo.save_to_path(out / label)
            found[label] = {"path": str(path), "iteration": it,
                            **own_returns(algo.get_module(), trial, view)}
            print(f"restricted policy {label} (iteration {it}): own return "
                  f"{found[label]['mean_return']:.1f} sampled, "
                  f"{found[label]['greedy_return']:.1f} greedy", flush=True)
    algo.stop()
    summary.write_text(json.dumps(found, indent=2))
    return found


def own_returns(module, trial: ViewTrialConfig, view) -> dict[str, float]:
    """Mean episode return of a view policy on the view env, sampled and greedy."""
    from imm_ray.rl.evaluation import evaluate_episodes, module_policy

    policy, n = module_policy(module), 2 * trial.eval_episodes
    seed = 1_000_000 + trial.seed
    return {k: float(evaluate_episodes(policy, trial.env, n, seed, greedy=g, view=view).mean())
            for k, g in (("mean_return", False), ("greedy_return", True))}
