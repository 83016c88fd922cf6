"""Restricted views: what the restricted policy sees of a full observation.

A *view* maps full observations ``[..., *obs_shape]`` (NumPy or torch) to restricted
contexts ``[..., *view_shape]`` and knows the space it produces (``space(full_space)``,
which also checks that the view fits the full space). Views that keep a sub-vector of the
observation can also ``splice``: write the restricted part of each batch observation into
``k`` other full observations, which is how the pool-based induced-policy estimators
(:mod:`imm_ray.rl.induced`) build extended contexts whose restricted part is exactly the
batch row's. Ready-made:

- :func:`select` ``(2, 3)``: observation indices of a 1-D ``Box`` (CartPole's pole angle and
  angular velocity); splices.
- :func:`tabular` ``(context_of_state)``: a ``Discrete(N)`` state -> ``Discrete(X)`` context
  table (the grid's column); no splice (use the enumerated estimator).
- :func:`from_callable` ``(fn, space)``: any function; no splice.

:class:`RestrictedViewWrapper` is the gymnasium ``ObservationWrapper`` of an environment
that shows only the view, so that a restricted policy can be trained on it by any RLlib
algorithm (:func:`register_view_env` registers it with Tune under a name).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor


def _is_int(v) -> bool:
    return not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, np.integer))


class SelectIndices:
    """The observation features at ``indices`` of a 1-D ``Box`` observation.

    ``view(obs [..., D]) = obs[..., indices]`` (``[..., len(indices)]``).
    """

    def __init__(self, *indices: int):
        if not indices:
            raise ValueError("restricted_view: select(...) needs at least one index")
        if not all(_is_int(i) and i >= 0 for i in indices):
            raise ValueError(f"restricted_view: indices must be integers >= 0, got "
                             f"{list(indices)}")
        if len(set(indices)) != len(indices):
            raise ValueError(f"restricted_view: indices must not repeat, got {list(indices)}")
        self.indices = tuple(int(i) for i in indices)

    def __repr__(self) -> str:
        return f"select{self.indices}"

    def __call__(self, obs):
        if torch.is_tensor(obs):
            return obs[..., torch.tensor(self.indices, device=obs.device)]
        return np.asarray(obs)[..., list(self.indices)]

    def space(self, full: gym.Space) -> gym.spaces.Box:
        """The view's ``Box``; ValueError naming ``restricted_view`` if it does not fit."""
        if not isinstance(full, gym.spaces.Box) or len(full.shape) != 1:
            raise ValueError(f"restricted_view {self!r} needs a 1-D Box observation space, "
                             f"got {full}")
        bad = [i for i in self.indices if i >= full.shape[0]]
        if bad:
            raise ValueError(f"restricted_view indices {bad} are out of range for the "
                             f"observation space {full} ({full.shape[0]} features: indices "
                             f"0..{full.shape[0] - 1})")
        idx = list(self.indices)
        return gym.spaces.Box(full.low[idx], full.high[idx], dtype=full.dtype)

    def splice(self, extended: Tensor, obs: Tensor) -> Tensor:
        """``extended [B, k, D]`` with features ``indices`` replaced by ``obs [B, D]``'s."""
        if extended.dim() != 3 or obs.dim() != 2 or extended.shape[::2] != obs.shape:
            raise ValueError(f"splice needs extended [B, k, D] and obs [B, D], got "
                             f"{tuple(extended.shape)} and {tuple(obs.shape)}")
        idx = torch.tensor(self.indices, device=obs.device)
        out = extended.clone()
        out[..., idx] = obs[:, None, idx].to(out.dtype)
        return out


def select(*indices: int) -> SelectIndices:
    """View of the observation features at ``indices`` (``select(2, 3)``)."""
    return SelectIndices(*indices)


class TabularView:
    """``Discrete(N)`` states -> ``Discrete(X)`` contexts through a table ``[N]``."""

    def __init__(self, context_of_state, num_contexts: int | None = None):
        table = torch.as_tensor(np.asarray(context_of_state))
        if table.dim() != 1 or table.numel() == 0 or table.dtype not in (torch.int32,
                                                                           torch.int64):
            raise ValueError(f"restricted_view: context_of_state must be a non-empty 1-D "
                             f"integer table [N], got {tuple(table.shape)} {table.dtype}")
        low, high = int(table.min()), int(table.max())
        x = high + 1 if num_contexts is None else num_contexts
        if low < 0 or not _is_int(x) or high >= x:
            raise ValueError(f"restricted_view: contexts must be in [0, num_contexts={x}), "
                             f"got range [{low}, {high}]")
        self.table, self.num_contexts = table.long(), int(x)

    def __repr__(self) -> str:
        return f"tabular({self.table.numel()} states -> {self.num_contexts} contexts)"

    def __call__(self, states):
        if torch.is_tensor(states):
            return self.table.to(states.device)[states.long()]
        return self.table.numpy()[np.asarray(states, dtype=np.int64)]

    def space(self, full: gym.Space) -> gym.spaces.Discrete:
        if not isinstance(full, gym.spaces.Discrete) or full.n != self.table.numel():
            raise ValueError(f"restricted_view {self!r} needs Discrete({self.table.numel()}) "
                             f"observations, got {full}")
        return gym.spaces.Discrete(self.num_contexts)


def tabular(context_of_state, num_contexts: int | None = None) -> TabularView:
    """View of a tabular state as its context: ``context_of_state [N]`` integers."""
    return TabularView(context_of_state, num_contexts)


class CallableView:
    """Any function ``obs -> restricted`` with the space it produces (None: unknown)."""

    def __init__(self, fn: Callable, view_space: gym.Space | None = None):
        if not callable(fn):
            raise ValueError(f"restricted_view: from_callable needs a callable, got "
                             f"{type(fn).__name__}")
        if view_space is not None and not isinstance(view_space, gym.Space):
            raise ValueError(f"restricted_view: space must be a gymnasium Space, got "
                             f"{type(view_space).__name__}")
        self.fn, self.view_space = fn, view_space

    def __repr__(self) -> str:
        return f"from_callable({getattr(self.fn, '__name__', self.fn)!r})"

    def __call__(self, obs):
        return self.fn(obs)

    def space(self, full: gym.Space) -> gym.Space | None:
        return self.view_space


def from_callable(fn: Callable, space: gym.Space | None = None) -> CallableView:
    """View computed by ``fn`` (torch and NumPy inputs); ``space`` is what it produces
    (needed by :class:`RestrictedViewWrapper`)."""
    return CallableView(fn, space)


def check_view(view: Any) -> None:
    """Raise ValueError naming ``restricted_view`` unless ``view`` is a view."""
    if not (callable(view) and callable(getattr(view, "space", None))):
        raise ValueError(f"restricted_view must be a view (imm_ray.rl.views.select / tabular "
                         f"/ from_callable, or an object with __call__ and space), got "
                         f"{type(view).__name__}")


class RestrictedViewWrapper(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """An environment that shows only ``view`` of ``env``'s observations."""

    def __init__(self, env: gym.Env, view):
        check_view(view)
        gym.utils.RecordConstructorArgs.__init__(self, view=view)
        gym.ObservationWrapper.__init__(self, env)
        space = view.space(env.observation_space)
        if space is None:
            raise ValueError(f"restricted_view {view!r} does not say its space; pass "
                             "from_callable(fn, space=...)")
        self.view, self.observation_space = view, space

    def observation(self, observation):
        out = self.view(observation)
        if isinstance(self.observation_space, gym.spaces.Box):
            return np.asarray(out, dtype=self.observation_space.dtype)
        return out.item() if isinstance(out, np.ndarray) and out.ndim == 0 else out


def make_view_env(env_id: str, view, **kwargs) -> RestrictedViewWrapper:
    """``gymnasium.make(env_id, **kwargs)`` showing only ``view``."""
    return RestrictedViewWrapper(gym.make(env_id, **kwargs), view)


def register_view_env(env_id: str, view) -> str:
    """Register ``make_view_env(env_id, view, **env_config)`` with Tune; returns the name
    to pass to ``config.environment(...)``."""
    from ray import tune

    name = f"{env_id}[{view!r}]"
    tune.register_env(name, lambda env_config: make_view_env(env_id, view, **env_config))
    return name
