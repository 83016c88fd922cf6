"""The two interfaces every IMM experiment plugs into.

- A *restricted model* ``Pbar(y | x)``: a Kneser-Ney bigram, a solved POMDP policy, the
  Bayes-optimal one-feature logistic predictor.
- An *extended-context sampler*: for restricted contexts ``x`` draws (or enumerates)
  ``k`` full contexts ``(x, xb_j)`` from ``pi(xb | x)``, with optional weights.

Generic samplers live in :mod:`imm_ray.samplers`; the loss in :mod:`imm_ray.core`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor


@runtime_checkable
class RestrictedModel(Protocol):
    """``Pbar(y | x)`` over ``num_classes`` labels."""

    num_classes: int

    def probs(self, restricted_contexts: Tensor) -> Tensor:
        """``[...]`` (or ``[..., d]``) restricted contexts -> ``[..., C]`` rows summing to 1."""
        ...


@runtime_checkable
class ContextSampler(Protocol):
    """Draws extended contexts sharing each given restricted context."""

    def sample(
        self, restricted_contexts: Tensor, k: int | None, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Returns ``(extended [..., k, ...], weights [..., k] or None for uniform)``."""
        ...


def check_restricted_model(model: RestrictedModel, num_classes: int, name: str = "restricted"):
    """Raise ValueError unless ``model`` follows the protocol with ``num_classes`` classes."""
    if not isinstance(model, RestrictedModel):
        raise ValueError(f"{name} model must have `num_classes` and `probs(contexts)`; got "
                         f"{type(model).__name__}")
    if model.num_classes != num_classes:
        raise ValueError(f"{name} model has num_classes={model.num_classes} but the full model "
                         f"has {num_classes}: they must share one label/vocabulary/action set")


@runtime_checkable
class ContinuousRestrictedModel(Protocol):
    """``Pbar(a | x)`` over a ``gymnasium.spaces.Box`` of actions: what the continuous IMM
    term needs is draws from it (no densities, no gradient)."""

    action_space: object
    """The ``Box`` it acts in (shape and bounds are checked against the environment's)."""

    def sample(self, restricted_contexts: Tensor, m: int) -> Tensor:
        """``[B, ...]`` restricted contexts -> ``[B, m, *action_shape]`` actions."""
        ...
