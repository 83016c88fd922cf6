"""Continuous (``Box``) actions for the IMM term: restricted policies that draw actions,
their build-time check, and the learner's log-densities of those draws.

With ``Box`` actions the full policy ``Q(a | x, xb)`` is the RLModule's own action
distribution (RLlib's default PPO module: ``TorchDiagGaussian`` over ``[mean, log_std]``;
a squashed Gaussian where a module uses one), the induced policy is the mixture of the
``k`` distributions at the extended observations, and the IMM term is
``imm_ray.core.imm_loss_continuous`` of their log-densities at ``m`` (``config.imm(
samples=m)``) actions drawn from the restricted policy.

Coordinates: RLlib computes log-densities in the module's distribution coordinates,
which with ``normalize_actions=True`` (RLlib's default) are ``[-1, 1]`` per bounded
dimension (the env runner maps them to the bounds). A restricted policy says which
coordinates its draws are in: ``units = "policy"`` (an RLModule checkpoint: the same
coordinates when it was trained with the same ``normalize_actions``) or ``"env"``
(:func:`from_gaussian_module`: environment units, mapped by :func:`to_module_units`).

- ``ContinuousModulePolicy`` (in :mod:`imm_ray.rl.restricted`, re-exported here):
  ``restricted.from_checkpoint(path)`` of a ``Box`` module; ``check_continuous_setup``,
  the build-time check of either kind, likewise.
- :class:`GaussianModulePolicy` (:func:`from_gaussian_module`): an ``nn.Module`` or callable
  returning ``(mean, log_std)``, a ``torch.distributions`` object, or an action.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import Tensor

from imm_ray.rl.restricted import (  # noqa: F401  (re-exported: the Box-action pieces)
    ContinuousModulePolicy,
    SavedGaussianPolicy,
    _move_to,
    check_continuous_setup,
    gaussian_draws,
    is_continuous,
    same_box,
)


class GaussianModulePolicy:
    """A callable ``contexts [B, ...] ->`` ``(mean, log_std)`` (each ``[B, *shape]``), a
    ``torch.distributions.Distribution`` whose draws are ``[B, *shape]``, or a
    deterministic action ``[B, *shape]``; environment units (``units = "env"``)."""

    units = "env"

    def __init__(self, fn, action_space, input_shape: tuple[int, ...] | None = None):
        if not callable(fn):
            raise ValueError(f"restricted_policy: from_gaussian_module needs a callable or "
                             f"nn.Module, got {type(fn).__name__}")
        if not isinstance(action_space, gym.spaces.Box):
            raise ValueError(f"restricted_policy: action_space must be a gymnasium Box, got "
                             f"{action_space!r}")
        self.fn, self.action_space = fn, action_space
        self.input_shape = None if input_shape is None else tuple(input_shape)

    def __repr__(self) -> str:
        return f"from_gaussian_module({type(self.fn).__name__})"

    def _out(self, restricted_contexts: Tensor):
        x = torch.as_tensor(restricted_contexts)
        if isinstance(self.fn, torch.nn.Module):
            _move_to(self.fn, x.device)
        return x, self.fn(x.float() if x.is_floating_point() else x)

    def _check(self, t, want: tuple, x: Tensor, what: str) -> Tensor:
        if not torch.is_tensor(t) or tuple(t.shape) != want:
            got = tuple(t.shape) if torch.is_tensor(t) else type(t).__name__
            raise ValueError(f"restricted_policy {self!r} returned {what} of shape {got} for "
                             f"contexts {tuple(x.shape)}; expected {want} (action space "
                             f"{self.action_space})")
        return t.float()

    @torch.no_grad()
    def sample(self, restricted_contexts: Tensor, m: int) -> Tensor:
        """``[B, ...]`` -> ``[B, m, *shape]`` draws (``m`` copies if deterministic)."""
        x, out = self._out(restricted_contexts)
        one = (x.shape[0], *self.action_space.shape)
        if isinstance(out, torch.distributions.Distribution):
            draws = out.sample((m,)).movedim(0, 1)
            return self._check(draws, (one[0], m, *one[1:]), x, "samples")
        if isinstance(out, (tuple, list)):
            mean, log_std = (self._check(t, one, x, name) for t, name in
                             zip(out, ("mean", "log_std"), strict=True))
            return gaussian_draws(mean, log_std, m)
        action = self._check(out, one, x, "actions")
        return action.unsqueeze(1).expand(one[0], m, *one[1:])

    @torch.no_grad()
    def mean(self, restricted_contexts: Tensor) -> Tensor:
        """``[B, ...]`` -> ``[B, *shape]``: the mean (or deterministic) action."""
        x, out = self._out(restricted_contexts)
        one = (x.shape[0], *self.action_space.shape)
        if isinstance(out, torch.distributions.Distribution):
            return self._check(out.mean, one, x, "mean")
        return self._check(out[0] if isinstance(out, (tuple, list)) else out, one, x,
                           "actions")


def from_gaussian_module(fn, action_space, input_shape: tuple[int, ...] | None = None):
    """A continuous restricted policy from an ``nn.Module`` or callable (see
    :class:`GaussianModulePolicy`)."""
    return GaussianModulePolicy(fn, action_space, input_shape)


# --------------------------------------------------------------------------- learner side


def to_module_units(actions: Tensor, restricted, action_space: gym.spaces.Box,
                    normalize_actions: bool) -> Tensor:
    """``[..., *shape]`` restricted draws in the full module's distribution coordinates:
    environment-unit draws are mapped to ``[-1, 1]`` (RLlib's ``normalize_action``) when
    the algorithm normalises actions and the space is bounded; others pass unchanged."""
    if getattr(restricted, "units", "policy") != "env" or not normalize_actions or not (
            action_space.is_bounded("both")):
        return actions
    low = torch.as_tensor(action_space.low, dtype=actions.dtype, device=actions.device)
    high = torch.as_tensor(action_space.high, dtype=actions.dtype, device=actions.device)
    return (actions - low) * 2.0 / (high - low) - 1.0


def component_log_probs(module, dist_inputs: Tensor, actions: Tensor) -> Tensor:
    """``log Q(a_i | component j)`` of the module's train action distribution.

    Args:
        dist_inputs: ``[B, k, P]`` ``ACTION_DIST_INPUTS`` of ``k`` components per row.
        actions: ``[B, m, *shape]`` actions in the module's coordinates.

    Returns:
        ``[B, k, m]`` (RLlib's ``logp``: summed over the action dims).
    """
    dist = module.get_train_action_dist_cls().from_logits(dist_inputs.unsqueeze(2))
    b, m = actions.shape[:2]
    flat = actions.reshape(b, 1, m, -1)  # [B, 1, m, d]: broadcasts against [B, k, 1, d]
    return dist.logp(flat.to(dist_inputs.dtype))
