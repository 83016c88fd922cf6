"""The driver side of the restricted-view experiment: sweep checks, step 1, the plan.

- :func:`check_sweep`: every flag of the sweep and every trial's config (with the
  restricted checkpoints when they are known), ValueError naming the flag.
- :func:`train_restricted_policies` (step 1): plain RLlib PPO on the restricted-view
  environment (:class:`~imm_ray.rl.views.RestrictedViewWrapper`), saved in the exchange
  format (:func:`imm_ray.rl.restricted.save`) at an early and at the last iteration under
  ``<experiment>/restricted/``, with each policy's own return on its view and a
  uniform-random policy's; cached there (``summary.json``) and reused.
- :func:`own_returns` / :func:`check_strength`: every restricted policy (a supplied one
  too) is evaluated, and one no better than uniform-random stops the sweep before step 2.
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
                restricted_iterations: int, restricted_early: int, trust_pickle: bool = False,
                allow_weak_restricted: bool = False) -> None:
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
    from imm_ray.rl.restricted_io import is_saved_policy

    if restricted_checkpoint and not is_saved_policy(restricted_checkpoint):
        if not trust_pickle:
            raise ValueError(
                f"--restricted-checkpoint: {restricted_checkpoint!r} is not a policy saved "
                "with imm_ray.rl.restricted.save (no spec.json); loading it as an RLlib "
                "checkpoint unpickles its files, which can run code. Pass --trust-pickle "
                "only if you or your own run wrote it (it is then converted once, in the "
                "driver, to the exchange format under the experiment folder)")
        for run in range(seeds):
            check_trial(replace(trial, run=run))
    elif restricted_checkpoint:
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
    """Plain PPO on the restricted-view env; saves ``early`` (0: none) and ``late`` (the
    last of ``iterations``) under ``out`` in the exchange format
    (:func:`imm_ray.rl.restricted.save`: safetensors and JSON, no pickle), each with its own
    return on its view and a uniform-random policy's. Cached: a finished step 1
    (``out/summary.json``) is read back, not re-run."""
    summary = out / "summary.json"
    if summary.is_file():
        return json.loads(summary.read_text())
    import gymnasium as gym
    from ray.rllib.algorithms.ppo import PPOConfig

    from imm_ray.rl import restricted
    from imm_ray.rl.connectors import env_runner_settings_for
    from imm_ray.rl.logdir import build_algo
    from imm_ray.rl.views import register_view_env, select

    view = select(*trial.view)
    algo = (PPOConfig().environment(register_view_env(trial.env, view))
            .env_runners(num_env_runners=0, num_envs_per_env_runner=trial.envs_per_runner,
                         **env_runner_settings_for(gym.make(trial.env).action_space))
            .training(**ppo_settings(trial))
            .rl_module(model_config={"fcnet_hiddens": [trial.hidden, trial.hidden]})
            .debugging(seed=trial.seed + 7))
    algo = build_algo(algo, out)  # its log folder under step 1's, not ~/ray_results
    saves = {early: "early", iterations: "late"} if early else {iterations: "late"}
    found = {}
    for it in range(1, iterations + 1):
        algo.train()
        if it in saves:
            label = saves[it]  # Discrete: softmax logits; Box: a diagonal Gaussian
            path = restricted.save(algo.get_module(), out / label, view=view)
            policy = restricted.load(path)
            found[label] = {"path": str(path), "iteration": it,
                            **own_returns(policy, trial)}
            print_returns(label, found[label])
    algo.stop()
    summary.write_text(json.dumps(found, indent=2))
    return found


def print_returns(label: str, info: dict) -> None:
    it = f"iteration {info['iteration']}" if info["iteration"] else "supplied"
    print(f"restricted policy {label} ({it}): own return {info['mean_return']:.1f} sampled, "
          f"{info['greedy_return']:.1f} greedy; uniform-random on its view "
          f"{info['random_return']:.1f}", flush=True)


def own_returns(policy, trial: ViewTrialConfig) -> dict[str, float]:
    """Mean episode return on the view env of a restricted ``policy`` (a
    RestrictedModel), sampled and greedy, and of the uniform-random policy (same episodes'
    seeds)."""
    import torch

    from imm_ray.rl.continuous import is_continuous
    from imm_ray.rl.evaluation import evaluate_episodes, restricted_actor
    from imm_ray.rl.views import select

    view, n, seed = select(*trial.view), 2 * trial.eval_episodes, 1_000_000 + trial.seed
    if is_continuous(policy):
        act, uniform = restricted_actor(policy, lambda x: x), uniform_actor(policy.action_space)
    else:
        a = policy.num_classes
        act, uniform = policy.probs, lambda obs: torch.full((len(obs), a), 1.0 / a)
    runs = (("mean_return", act, False), ("greedy_return", act, True),
            ("random_return", uniform, False))
    return {k: float(evaluate_episodes(p, trial.env, n, seed, greedy=g, view=view).mean())
            for k, p, g in runs}


def uniform_actor(action_space):
    """Actions drawn uniformly from a bounded ``Box`` (the Box twin of the uniform-random
    policy), seeded per call by the evaluation's generator-free draws."""
    import torch

    low, high = (torch.as_tensor(b, dtype=torch.float32) for b in (action_space.low,
                                                                   action_space.high))
    gen = torch.Generator().manual_seed(0)

    def act(obs, greedy: bool):
        u = torch.rand((len(obs), *low.shape), generator=gen)
        return low + u * (high - low)

    act.is_actor = True
    return act


def weak_policies(found: dict[str, dict]) -> list[str]:
    """Labels of the restricted policies no better than uniform-random on their own view
    (neither the sampled nor the greedy return above the random policy's)."""
    return [label for label, info in found.items()
            if max(info["mean_return"], info["greedy_return"]) <= info["random_return"]]


def check_strength(found: dict[str, dict], allow_weak: bool) -> None:
    """ValueError naming the weak policies (see :func:`weak_policies`) unless
    ``allow_weak`` (``--allow-weak-restricted``)."""
    weak = weak_policies(found)
    if weak and allow_weak:
        print(f"warning: restricted policy {', '.join(weak)} is no better than a "
              "uniform-random policy on its own view; going on (--allow-weak-restricted)",
              flush=True)
    if weak and not allow_weak:
        detail = "; ".join(f"{w}: {found[w]['mean_return']:.1f} sampled, "
                           f"{found[w]['greedy_return']:.1f} greedy vs "
                           f"{found[w]['random_return']:.1f} uniform-random" for w in weak)
        raise ValueError(f"restricted policy {', '.join(weak)} is no better than a "
                         f"uniform-random policy on its own view ({detail}): it did not "
                         "learn, so IMM against it would train toward noise. Train it longer "
                         "(--restricted-iterations), supply another "
                         "(--restricted-checkpoint), or pass --allow-weak-restricted")
