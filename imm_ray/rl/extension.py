"""From a batch of full observations to what the IMM term needs.

An *extension* is a callable ``obs [B, ...] -> (contexts [B], extended [B, k, ...],
weights [B, k] or None)``: the restricted context of each full observation, the ``k``
full observations consistent with it (for the grid: the 11 states of the observed
column), and their belief weights. The learner forwards ``extended`` through the policy
and feeds the logits ``[B, k, A]`` and weights to ``imm_ray.core.imm_loss``.

:class:`TabularExtension` covers any environment with a tabular full state and a tabular
restricted view; it reads the three observation layouts of
``imm_ray.rl.module.PopulationMLPModule``: state indices ``[B]``, member-tagged rows
``[B, 2] = [member, state]``, and one-hot features ``[B, N]`` (float).
"""

from __future__ import annotations

import torch
from torch import Tensor

from imm_ray.samplers import EnumeratedConditional


class TabularExtension:
    """Extension for a tabular state space.

    Args:
        context_of_state: ``[N]`` integer restricted context of each full state (the
            column of a grid state).
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
