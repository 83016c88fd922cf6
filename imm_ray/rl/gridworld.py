"""MountainGrid wiring: POMDP restricted policies, the column extension, fast evaluation.

- :func:`grid_restricted_policy`: ``"argmax"`` / ``{"kind": "softmax", "temperature": 1.0}``
  -> the solved POMDP policy of the grid you train on (FIB, cached).
- :func:`grid_extension`: the belief over the 11 rows of each column, as a
  :class:`~imm_ray.rl.extension.TabularExtension`.
- :func:`evaluate_policy_table`: ``R`` rollouts of ``L`` steps from uniform random starts
  for every member at once, in torch, with exactly the environment's tables (tested
  against ``envs.MountainGridEnv``).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from imm_ray.core import interpolate
from imm_ray.restricted import pomdp as P
from imm_ray.rl.extension import TabularExtension

GRID_ENV = "MountainGrid-v0"
GRID_KEYS = {"height": 11, "width": 11, "reward_cov": 0.1, "wraparound": True}


def grid_params(env_config: dict | None) -> dict:
    """The POMDP-relevant settings of a MountainGrid ``env_config`` (defaults filled)."""
    env_config = dict(env_config or {})
    return {k: env_config.get(k, v) for k, v in GRID_KEYS.items()}


@functools.lru_cache(maxsize=16)
def _solved(height, width, reward_cov, wraparound, gamma):
    pomdp = P.mountain_grid_pomdp(height, width, reward_cov, wraparound)
    return pomdp, P.solve_fib(pomdp, gamma=gamma)


def grid_restricted_policy(spec, env_config: dict | None = None,
                           gamma: float = 0.9) -> P.TabularPolicy:
    """The restricted policy ``spec`` (a kind string or ``{"kind", "temperature",
    "reward_cov"}``) solved for the grid of ``env_config``.

    ``reward_cov`` in the spec overrides the covariance the POMDP is solved with (the
    reference solved with 0.3 while training on 0.1); by default the environment's.
    """
    spec = {"kind": spec} if isinstance(spec, str) else dict(spec)
    kind = spec.pop("kind", None)
    if kind not in P.POLICY_KINDS:
        raise P.policy_kind_error(kind)
    temperature = spec.pop("temperature", 1.0)
    grid = grid_params(env_config)
    grid["reward_cov"] = spec.pop("reward_cov", grid["reward_cov"])
    if spec:
        raise ValueError(f"unknown restricted-policy settings {sorted(spec)}; allowed: "
                         "kind, temperature, reward_cov")
    cov = grid["reward_cov"]
    cov = tuple(map(tuple, np.asarray(cov, dtype=float).reshape(2, 2))) \
        if np.ndim(cov) else float(cov)
    pomdp, alpha = _solved(grid["height"], grid["width"], cov, grid["wraparound"],
                           float(gamma))
    return P.pomdp_policy(alpha, P.observation_beliefs(pomdp), kind, temperature)


def grid_extension(env_config: dict | None = None) -> TabularExtension:
    """Column -> the ``height`` states of that column, uniform belief."""
    g = grid_params(env_config)
    pomdp = P.mountain_grid_pomdp(g["height"], g["width"], g["reward_cov"], g["wraparound"])
    beliefs = P.observation_beliefs(pomdp)
    return TabularExtension(P.context_of_state(pomdp), P.conditional_from_beliefs(beliefs))


def grid_tables(env_config: dict | None = None) -> tuple[Tensor, Tensor]:
    """``(next_state [N, 4] long, reward of the state reached [N] float32)``."""
    from envs.mountain_grid import next_state_table, reward_table

    env_config = dict(env_config or {})
    g = grid_params(env_config)
    nxt = next_state_table(g["height"], g["width"], g["wraparound"])
    rew = reward_table(g["height"], g["width"], g["reward_cov"])
    return torch.as_tensor(nxt), torch.as_tensor(rew, dtype=torch.float32)


@torch.no_grad()
def policy_table(module) -> Tensor:
    """``[S, N, A]`` action probabilities of every member of a
    :class:`~imm_ray.rl.module.PopulationMLPModule` in every state."""
    from ray.rllib.core.columns import Columns

    s, n = module.num_members, module.pi.w1.shape[1]
    states = torch.arange(n)
    if module.obs_format == "tagged":
        obs = torch.stack(torch.broadcast_tensors(torch.arange(s)[:, None], states), -1)
        obs = obs.reshape(s * n, 2)
    elif module.obs_format == "dense":
        obs = torch.eye(n)
    else:
        obs = states
    logits = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    return torch.softmax(logits.float(), dim=-1).reshape(s, n, -1)


@torch.no_grad()
def evaluate_policy_table(probs: Tensor, next_state: Tensor, rewards: Tensor,
                          num_rollouts: int = 10, rollout_length: int = 22,
                          generator: torch.Generator | None = None,
                          starts: Tensor | None = None, greedy: bool = False) -> Tensor:
    """``[S]`` mean over ``num_rollouts`` of the total reward of ``rollout_length``
    sampled steps (``greedy``: argmax actions) from uniform random starts (or ``starts
    [S, R]``), for each member's ``probs [S, N, A]``."""
    for name, v in (("num_rollouts", num_rollouts), ("rollout_length", rollout_length)):
        if v < 1:  # no rollouts or no steps: a NaN or meaningless mean return
            raise ValueError(f"{name} must be >= 1, got {v!r}")
    s, n, a = probs.shape
    state = (torch.randint(n, (s, num_rollouts), generator=generator) if starts is None
             else starts.long())
    member = torch.arange(s)[:, None].expand(s, num_rollouts)
    total = torch.zeros(s, num_rollouts, dtype=torch.float64)
    for _ in range(rollout_length):
        p = probs[member, state].reshape(-1, a)
        action = (p.argmax(-1) if greedy else
                  torch.multinomial(p, 1, generator=generator).squeeze(-1))
        action = action.view(s, num_rollouts)
        state = next_state[state, action]
        total += rewards[state].double()
    return total.mean(dim=1)


def interpolated_table(probs: Tensor, restricted: P.TabularPolicy,
                       extension: TabularExtension, ratio: float) -> Tensor:
    """``(1 - ratio) Q + ratio Pbar(. | context(s))`` for every state of ``[S, N, A]``."""
    pbar = restricted.probs(extension.context_of_state)  # [N, A]
    return interpolate(probs, pbar.to(probs.dtype).expand_as(probs), ratio)
