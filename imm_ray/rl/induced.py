"""Induced-policy estimators: from a batch of full observations to what the IMM term needs.

An estimator is a callable ``obs [B, ...] -> (contexts [B, ...], extended [B, k, ...],
weights [B, k] or None)``: the restricted context of each full
observation, ``k`` full observations sharing it, and their weights (None: uniform). The
learner forwards ``extended`` as one ``[B * k, ...]`` batch through the policy and feeds
the logits ``[B, k, A]`` with the weights to ``imm_ray.core.imm_loss``, so the induced
policy is ``Qbar(a | x) = sum_j w_j Q(a | extended_j)``. ``restricted_context(obs)`` gives
the contexts alone (for reverse-KD and the interpolation baseline).

- :class:`EnumeratedEstimator` (alias ``TabularExtension``): a known belief over tabular
  states (the grid's column -> its 11 rows).
- :class:`PoolEstimator` (``"pool"``): ``pi(xb | x) = pi(xb)``: k observations drawn from a
  pool of recently seen ones.
- :class:`NeighboursEstimator` (``"neighbours"``): the k pooled observations whose
  restricted part is nearest (for dependent features).
- :class:`BinnedEstimator` (``"binned"``): k draws from the pooled observations in the
  same bin of the discretised restricted context.

The pool-based ones splice the batch row's restricted part into each drawn observation
(``view.splice``), so the induced context is exactly the restricted context. Their pool
is the batch they are given (the learner passes the loss-masked rows of the batch its
loss sees), or with ``pool_size=N`` a FIFO buffer of the last ``N`` such rows, the
current batch included (for PPO with
``pool_size = train_batch_size`` the pool from the second epoch on is exactly the current
train batch). All work is batched tensor code: no Python loop over samples.
"""

from __future__ import annotations

import torch
from torch import Tensor

from imm_ray.samplers import (
    BinnedGroups,
    EnumeratedConditional,
    IndependentPool,
    NearestNeighbours,
)

ESTIMATORS = ("enumerated", "pool", "neighbours", "binned")


class EnumeratedEstimator:
    """Known finite conditional over a tabular state space.

    Reads the three observation layouts of :class:`~imm_ray.rl.module.PopulationMLPModule`:
    state indices ``[B]``, member-tagged rows ``[B, 2] = [member, state]`` (the member is
    kept in the extended rows), one-hot features ``[B, N]`` (float).

    Args:
        context_of_state: ``[N]`` integer restricted context of each full state.
        conditional: :class:`~imm_ray.samplers.EnumeratedConditional` whose contexts are
            ``[X, k]`` full-state indices per restricted context, with weights ``[X, k]``
            (the belief; None for uniform).
    """

    def __init__(self, context_of_state, conditional: EnumeratedConditional):
        self.context_of_state = torch.as_tensor(context_of_state).long()
        if self.context_of_state.dim() != 1:
            raise ValueError(f"context_of_state must be [N], got "
                             f"{tuple(self.context_of_state.shape)}")
        if conditional.contexts.dim() != 2:
            raise ValueError(f"conditional contexts must be [X, k] state indices, got "
                             f"{tuple(conditional.contexts.shape)}")
        if int(self.context_of_state.max()) >= conditional.contexts.shape[0]:
            raise ValueError("context_of_state has contexts the conditional does not cover")
        self.conditional = conditional
        self.num_states = self.context_of_state.shape[0]

    @property
    def k(self) -> int:
        return self.conditional.k

    def restricted_context(self, obs: Tensor) -> Tensor:
        """``[B]`` restricted context of each full observation."""
        return self.context_of_state.to(obs.device)[self._states(obs)]

    def _states(self, obs: Tensor) -> Tensor:
        if obs.is_floating_point():  # one-hot features
            return obs.argmax(dim=-1)
        return obs[..., 1].long() if obs.dim() == 2 else obs.long()

    def __call__(self, obs: Tensor):
        ctx = self.restricted_context(obs)  # [B]
        states, weights = self.conditional.sample(ctx.cpu())  # [B, k], [B, k] or None
        states = states.to(obs.device)
        if obs.is_floating_point():
            extended = torch.nn.functional.one_hot(states, self.num_states).to(obs.dtype)
        elif obs.dim() == 2:  # [member, state] rows: keep the member
            member = obs[:, :1].long().expand_as(states)
            extended = torch.stack([member, states], dim=-1)  # [B, k, 2]
        else:
            extended = states
        weights = None if weights is None else weights.to(obs.device)
        return ctx, extended, weights


TabularExtension = EnumeratedEstimator
"""The name this class had before the estimators were generalised."""


class PoolEstimator:
    """``pi(xb | x) = pi(xb)``: ``k`` uniform draws (with replacement) from the pool.

    Args:
        view: a splicing restricted view (:func:`imm_ray.rl.views.select`).
        k: extended observations per batch row.
        pool_size: None (the current batch) or the FIFO buffer length.
    """

    def __init__(self, view, k: int = 16, pool_size: int | None = None):
        if not callable(getattr(view, "splice", None)):
            raise ValueError(f"restricted_view {view!r} cannot splice its restricted part "
                             "into other observations, which the pool, neighbours and "
                             "binned estimators need; use imm_ray.rl.views.select(...) or "
                             "pass an estimator object")
        for name, v, low in (("k", k, 1), ("pool_size", pool_size, 1)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < low):
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        self.view, self.k, self.pool_size = view, k, pool_size
        self.buffer: Tensor | None = None

    def __getstate__(self):  # the buffer is per learner, not configuration
        return {**self.__dict__, "buffer": None}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(view={self.view!r}, k={self.k}, " \
               f"pool_size={self.pool_size})"

    def restricted_context(self, obs: Tensor) -> Tensor:
        return self.view(obs)

    def pool(self, obs: Tensor) -> Tensor:
        """``[P, D]``: the batch rows, after the buffer's older rows if buffered."""
        if obs.shape[0] == 0:
            raise ValueError("the batch has no rows to pool")
        if self.pool_size is None:
            return obs
        old = self.buffer if self.buffer is not None and self.buffer.shape[1:] == \
            obs.shape[1:] else obs[:0]
        self.buffer = torch.cat([old.to(obs), obs.detach()])[-self.pool_size:]
        return self.buffer

    def sampler(self, pool: Tensor):
        """The :mod:`imm_ray.samplers` object drawing whole pooled rows."""
        return IndependentPool(pool, combine=lambda obs, drawn: drawn)

    def draw(self, obs: Tensor, pool: Tensor) -> Tensor:
        """``[B, k, D]`` pooled rows for each batch row (before splicing)."""
        return self.sampler(pool).sample(obs, self.k)[0]

    def __call__(self, obs: Tensor):
        if obs.dim() != 2 or not obs.is_floating_point():
            raise ValueError(f"{type(self).__name__} needs float observations [B, D], got "
                             f"{tuple(obs.shape)} {obs.dtype}")
        drawn = self.draw(obs, self.pool(obs))  # [B, k, D]
        return self.view(obs), self.view.splice(drawn, obs), None


class NeighboursEstimator(PoolEstimator):
    """The ``k`` pooled observations whose restricted part is nearest (standardised
    Euclidean distance) to the batch row's (all of them if the pool has fewer than
    ``k``); uniform weights."""

    def draw(self, obs: Tensor, pool: Tensor) -> Tensor:
        nn = NearestNeighbours(self.view(pool), pool)
        return nn.sample(self.view(obs), min(self.k, pool.shape[0]))[0]


class BinnedEstimator(PoolEstimator):
    """``k`` draws from the pooled observations in the batch row's bin (``bins``
    equal-count bins per restricted feature, cut at the pool's quantiles)."""

    def __init__(self, view, k: int = 16, pool_size: int | None = None, bins: int = 8):
        super().__init__(view, k, pool_size)
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            raise ValueError(f"bins must be an integer >= 1, got {bins!r}")
        self.bins = bins

    def draw(self, obs: Tensor, pool: Tensor) -> Tensor:
        return BinnedGroups(self.view(pool), pool, self.bins).sample(self.view(obs), self.k)[0]


def make_estimator(name: str, view, k: int = 16, pool_size: int | None = None,
                   bins: int = 8):
    """A pool-based estimator by name (``"pool"``, ``"neighbours"``, ``"binned"``)."""
    if name == "pool":
        return PoolEstimator(view, k, pool_size)
    if name == "neighbours":
        return NeighboursEstimator(view, k, pool_size)
    if name == "binned":
        return BinnedEstimator(view, k, pool_size, bins)
    raise ValueError(f"induced must be one of {list(ESTIMATORS)} or an estimator object, "
                     f"got {name!r}")
