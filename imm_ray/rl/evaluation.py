"""Episode returns of an RLModule (or a restricted policy) on any gymnasium environment.

:func:`evaluate_episodes` plays ``num_episodes`` episodes at once in a synchronous vector
env (episode ``i`` reset with seed ``seed + i``), one batched forward per step for all
of them, and returns each episode's total reward. The policy is a callable ``obs [E, ...]
-> action probabilities [E, A]``: :func:`module_policy` (an RLModule's softmax),
:func:`restricted_policy_of` (a restricted policy applied to the view of the
observation), or :func:`interpolated` ``(1 - r) Q + r Pbar`` (the interpolation
baseline, ``imm_ray.core.interpolate``). Actions are the argmax (``greedy``) or sampled
from a seeded torch generator, so an evaluation is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from imm_ray.core import interpolate

Policy = Callable[[Tensor], Tensor]


def module_policy(module) -> Policy:
    """``softmax`` of an RLModule's ``ACTION_DIST_INPUTS`` (no gradient)."""
    from ray.rllib.core.columns import Columns

    @torch.no_grad()
    def probs(obs: Tensor) -> Tensor:
        out = module.forward_inference({Columns.OBS: obs})
        return torch.softmax(out[Columns.ACTION_DIST_INPUTS].float(), dim=-1)

    return probs


def restricted_policy_of(restricted, view) -> Policy:
    """The restricted policy acting on full observations: ``Pbar(. | view(obs))``."""
    return lambda obs: restricted.probs(view(obs)).float()


def interpolated(full: Policy, restricted: Policy, ratio: float) -> Policy:
    """``(1 - ratio) Q + ratio Pbar`` of two policies on the same observations."""
    return lambda obs: interpolate(full(obs), restricted(obs).to(torch.float32), ratio)


def make_vector_env(env_id: str, num_envs: int, view=None, **kwargs) -> gym.vector.VectorEnv:
    """``num_envs`` copies of ``env_id`` (showing only ``view`` if given), synchronous."""
    from imm_ray.rl.views import make_view_env

    def one():
        return gym.make(env_id, **kwargs) if view is None else make_view_env(env_id, view,
                                                                              **kwargs)

    return gym.vector.SyncVectorEnv([one for _ in range(num_envs)])


@torch.no_grad()
def evaluate_episodes(policy: Policy, env_id: str, num_episodes: int = 10, seed: int = 0,
                      greedy: bool = True, view=None, max_steps: int = 100_000,
                      **env_kwargs) -> np.ndarray:
    """``[num_episodes]`` total reward of each episode played with ``policy``.

    Episodes run in parallel; an episode's reward stops counting when it terminates or
    truncates (the vector env's autoreset steps after that are discarded).
    """
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes must be an integer >= 1, got {num_episodes!r}")
    env = make_vector_env(env_id, num_episodes, view, **env_kwargs)
    generator = torch.Generator().manual_seed(seed)
    obs, _ = env.reset(seed=[seed + i for i in range(num_episodes)])
    totals = np.zeros(num_episodes)
    running = np.ones(num_episodes, dtype=bool)
    for _ in range(max_steps):
        x = torch.as_tensor(obs)
        p = policy(x.float() if x.is_floating_point() else x)  # [E, A]
        actions = p.argmax(-1) if greedy else torch.multinomial(p, 1, generator=generator)[:, 0]
        obs, reward, terminated, truncated, _ = env.step(actions.numpy())
        totals += np.where(running, reward, 0.0)
        running &= ~(terminated | truncated)
        if not running.any():
            break
    env.close()
    return totals
