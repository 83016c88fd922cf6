"""Episode returns of an RLModule (or a restricted policy) on any gymnasium environment.

:func:`evaluate_episodes` plays ``num_episodes`` episodes at once in a synchronous vector
env (episode ``i`` reset with seed ``seed + i``), one batched forward per step for all
of them, and returns each episode's total reward. The policy is a callable ``obs [E, ...]
-> action probabilities [E, A]``: :func:`module_policy` (an RLModule's softmax),
:func:`restricted_policy_of` (a restricted policy applied to the view of the
observation), or :func:`interpolated` ``(1 - r) Q + r Pbar`` (the interpolation
baseline, ``imm_ray.core.interpolate``). Actions are the argmax (``greedy``) or sampled
from a seeded torch generator, so an evaluation is reproducible.

``Box`` actions: :func:`evaluate_continuous_episodes` with an *actor* ``(obs, greedy) ->
actions`` in environment units: :func:`module_actor` (the module's Gaussian, its mean
when greedy), :func:`restricted_actor`, :func:`interpolated_actor` (a draw from the
mixture ``(1 - r) Q + r Pbar``; greedy: the mixture's mean).
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
    """``softmax`` of an RLModule's ``ACTION_DIST_INPUTS`` (no gradient); for a ``Box``
    action space, :func:`module_actor`."""
    from ray.rllib.core.columns import Columns

    if isinstance(module.action_space, gym.spaces.Box):
        return module_actor(module)

    @torch.no_grad()
    def probs(obs: Tensor) -> Tensor:
        out = module.forward_inference({Columns.OBS: obs})
        return torch.softmax(out[Columns.ACTION_DIST_INPUTS].float(), dim=-1)

    return probs


def restricted_policy_of(restricted, view) -> Policy:
    """The restricted policy acting on full observations: ``Pbar(. | view(obs))`` (a
    continuous one: :func:`restricted_actor`)."""
    from imm_ray.rl.continuous import is_continuous

    if is_continuous(restricted):
        return restricted_actor(restricted, view)
    return lambda obs: restricted.probs(view(obs)).float()


def interpolated(full: Policy, restricted: Policy, ratio: float) -> Policy:
    """``(1 - ratio) Q + ratio Pbar`` of two policies on the same observations (of two
    actors: :func:`interpolated_actor`)."""
    if getattr(full, "is_actor", False):
        return interpolated_actor(full, restricted, ratio)
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
    truncates (the vector env's autoreset steps after that are discarded). An env with
    ``Box`` actions goes to :func:`evaluate_continuous_episodes` (``policy`` an actor).
    """
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes must be an integer >= 1, got {num_episodes!r}")
    if getattr(policy, "is_actor", False):
        return evaluate_continuous_episodes(policy, env_id, num_episodes, seed, greedy, view,
                                            max_steps, **env_kwargs)
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


# --------------------------------------------------------------------------- Box actions

Actor = Callable[[Tensor, bool], Tensor]
"""Box actions: ``(obs [E, ...], greedy) -> actions [E, *shape]`` in environment units;
the functions below mark theirs with ``is_actor = True`` (what the dispatching
:func:`module_policy`, :func:`interpolated` and :func:`evaluate_episodes` read)."""


def to_env_units(actions: Tensor, action_space, normalized: bool) -> Tensor:
    """RLlib's ``unsquash_action``: ``[-1, 1]`` coordinates to the bounds (then clipped);
    unchanged when ``normalized`` is False or the space is unbounded."""
    if normalized and action_space.is_bounded("both"):
        low, high = (torch.as_tensor(b, dtype=actions.dtype) for b in (action_space.low,
                                                                       action_space.high))
        return low + (actions + 1.0) * (high - low) / 2.0
    return actions


def module_actor(module, normalize_actions: bool = True) -> Actor:
    """An RLModule's action distribution (mean when greedy), in environment units."""
    from ray.rllib.core.columns import Columns

    @torch.no_grad()
    def act(obs: Tensor, greedy: bool) -> Tensor:
        out = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
        dist = module.get_inference_action_dist_cls().from_logits(out.float())
        a = dist.to_deterministic().sample() if greedy else dist.sample()
        return to_env_units(a, module.action_space, normalize_actions)

    act.is_actor = True
    return act


def restricted_actor(restricted, view, normalize_actions: bool = True) -> Actor:
    """A continuous restricted policy acting on full observations (``view(obs)``)."""

    def act(obs: Tensor, greedy: bool) -> Tensor:
        x = view(obs)
        a = restricted.mean(x) if greedy else restricted.sample(x, 1)[:, 0]
        policy_units = getattr(restricted, "units", "policy") == "policy"
        return to_env_units(a, restricted.action_space, normalize_actions and policy_units)

    act.is_actor = True
    return act


def interpolated_actor(full: Actor, restricted: Actor, ratio: float) -> Actor:
    """The mixture ``(1 - ratio) Q + ratio Pbar``: a draw of it when sampling (each row's
    action is the restricted policy's with probability ``ratio``), and the mixture's mean
    ``(1 - ratio) a_Q + ratio a_Pbar`` when greedy."""

    def act(obs: Tensor, greedy: bool) -> Tensor:
        a, b = full(obs, greedy), restricted(obs, greedy).to(torch.float32)
        if greedy:
            return (1 - ratio) * a + ratio * b
        pick = torch.rand(a.shape[0]) < ratio
        return torch.where(pick.view(-1, *[1] * (a.dim() - 1)), b, a)

    act.is_actor = True
    return act


def evaluate_continuous_episodes(actor: Actor, env_id: str, num_episodes: int = 10,
                                 seed: int = 0, greedy: bool = True, view=None,
                                 max_steps: int = 100_000, **env_kwargs) -> np.ndarray:
    """:func:`evaluate_episodes` for ``Box`` actions: ``[num_episodes]`` total rewards,
    actions clipped to the bounds (as RLlib's env runner does), draws from torch's RNG
    seeded with ``seed`` inside (the caller's RNG state is left as it was)."""
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes must be an integer >= 1, got {num_episodes!r}")
    env = make_vector_env(env_id, num_episodes, view, **env_kwargs)
    space = env.single_action_space
    obs, _ = env.reset(seed=[seed + i for i in range(num_episodes)])
    totals, running = np.zeros(num_episodes), np.ones(num_episodes, dtype=bool)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for _ in range(max_steps):
            a = actor(torch.as_tensor(obs).float(), greedy).numpy()
            obs, reward, terminated, truncated, _ = env.step(np.clip(a, space.low, space.high))
            totals += np.where(running, reward, 0.0)
            running &= ~(terminated | truncated)
            if not running.any():
                break
    env.close()
    return totals
