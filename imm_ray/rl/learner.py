"""The IMM term as a thin TorchLearner extension, shared by IMMPG and IMMPPO.

``IMMLearner.compute_loss_for_module`` calls ``super()`` (REINFORCE or PPO), then adds
``lambda * imm_loss``: for each batch observation the extension gives the ``k`` full
observations consistent with its restricted view and their belief weights; the policy
logits of those (``[B, k, A]``) and the restricted policy ``[B, A]`` go to
``imm_ray.core.imm_loss`` — the induced policy is the belief-weighted mean of the policy
over those states. Logged as ``loss/main`` and ``loss/imm`` under the module id.

Reduction over batch rows follows the main loss (the host's ``reduce_rows``): a
masked mean for PPO, a sum over population members of per-member means for IMMPG.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.utils.annotations import override
from torch import Tensor

from imm_ray.core import imm_loss
from imm_ray.rl.settings import check_num_actions

LOSS_MAIN, LOSS_IMM = "loss/main", "loss/imm"


def masked_mean(values: Tensor, batch: dict) -> Tensor:
    """Mean of ``[B]`` values over rows with ``batch[LOSS_MASK]`` (all rows if absent)."""
    if Columns.LOSS_MASK in batch:
        mask = batch[Columns.LOSS_MASK]
        return values[mask].sum() / mask.sum().clamp(min=1)
    return values.mean()


def member_sum_of_means(values: Tensor, members: Tensor, num_members: int,
                        batch: dict) -> Tensor:
    """``sum_m mean(values[members == m])``: each population member's own mean loss."""
    if Columns.LOSS_MASK in batch:
        mask = batch[Columns.LOSS_MASK]
        values, members = values[mask], members[mask]
    sums = torch.zeros(num_members, dtype=values.dtype, device=values.device)
    sums = sums.index_add(0, members, values)
    counts = torch.bincount(members, minlength=num_members).clamp(min=1)
    return (sums / counts.to(values.dtype)).sum()


class IMMLearner(TorchLearner):
    """Mix in before an algorithm's TorchLearner: ``class L(IMMLearner, PPOTorchLearner)``.

    The host learner defines ``reduce_rows(module_id, batch, values [B]) -> scalar``,
    reducing per-row values exactly as its main loss does.
    """

    @override(TorchLearner)
    def build(self) -> None:
        super().build()
        self.imm_setups = {}
        for module_id in self.module.keys():
            setup = self.config.get_config_for_module(module_id).resolve_imm()
            check_num_actions(setup, self.module[module_id].unwrapped().action_space.n)
            self.imm_setups[module_id] = setup

    def imm_term(self, module_id: str, batch: dict[str, Any]) -> Tensor:
        """The reduced IMM loss of ``batch`` (with gradient)."""
        setup = self.imm_setups[module_id]
        contexts, extended, weights = setup.extension(batch[Columns.OBS])
        b, k = extended.shape[:2]
        flat = extended.reshape(b * k, *extended.shape[2:])
        out = self.module[module_id].forward_train({Columns.OBS: flat})
        logits = out[Columns.ACTION_DIST_INPUTS].view(b, k, -1)  # [B, k, A]
        restricted = setup.restricted.probs(contexts).to(logits)  # [B, A]
        per_row = imm_loss(logits, restricted, weights, reduction="none")  # [B]
        return self.reduce_rows(module_id, batch, per_row)

    @override(TorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        loss = super().compute_loss_for_module(
            module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)
        self.metrics.log_value((module_id, LOSS_MAIN), loss.detach(), window=1)
        lam = self.imm_setups[module_id].lam
        if lam == 0:
            return loss
        imm = self.imm_term(module_id, batch)
        self.metrics.log_value((module_id, LOSS_IMM), imm.detach(), window=1)
        return loss + lam * imm
