"""The IMM term as a thin TorchLearner extension, shared by IMMPG and IMMPPO.

``IMMLearner.compute_loss_for_module`` calls ``super()`` (REINFORCE or PPO), then adds
``lambda`` times one of:

- ``method="imm"``: the induced-policy estimator gives, for each valid batch observation,
  its restricted context and ``k`` full observations sharing it (with weights); the policy
  logits of those, as one ``[B * k, ...]`` forward (``[B, k, A]``), and the restricted
  policy ``Pbar [B, A]`` go to ``imm_ray.core.imm_loss`` — the induced policy is the
  weighted mean of the policy over the extended observations. Logged as ``loss/imm``.
- ``method="reverse_kd"``: ``imm_ray.core.reverse_kd_loss`` of the policy's own logits at
  each batch observation against ``Pbar`` of its restricted context (the per-sample
  baseline the paper argues against). Logged as ``loss/reverse_kd``.

With ``Box`` actions (:mod:`imm_ray.rl.continuous`) both terms draw ``m``
(``config.imm(samples=m)``) actions per row from the restricted policy and score them
with the module's own action distribution: ``imm`` gives the ``[B, k, m]`` log-densities
under the ``k`` extended observations to ``imm_ray.core.imm_loss_continuous``
(log-mean-exp over ``k``: the mixture induced policy); ``reverse_kd`` is the same
function with ``k = 1``, the row's own observation.

With ``config.imm(every=j)`` the term is added on every ``j``-th minibatch update of a
module only (counted by this learner from its build), at the same lambda: the RL twin of
the LM trainer's ``imm_every``, a ``1/j`` share of the term's cost.

Nothing non-finite passes silently: a NaN or inf in the batch's observations or rewards,
in the main loss, the IMM term or any gradient raises
:class:`imm_ray.core.NonFiniteLossError` (the trial fails and the sweep prints no summary),
where RLlib would zero NaN gradients with a log warning and go on.

The main loss is logged as ``loss/main``, all under the module id. Reduction over batch
rows follows the main loss (the host's ``reduce_rows``): a masked mean for PPO, a sum over
population members of per-member means for IMMPG. Rows outside the loss mask (PPO's
artificial bootstrap step) get no IMM term and are not pooled.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.core.models.base import ENCODER_OUT
from ray.rllib.utils.annotations import override
from torch import Tensor

from imm_ray.core import (
    NonFiniteLossError,
    assert_finite,
    imm_loss,
    imm_loss_continuous,
    reverse_kd_loss,
)
from imm_ray.metrics import LOSS_IMM, LOSS_MAIN, LOSS_REVERSE_KD
from imm_ray.rl.continuous import component_log_probs, is_continuous, to_module_units
from imm_ray.rl.settings import check_imm_spaces

DIVERGED = ("The batch's observations and rewards were finite (checked before the loss), "
            "so the update itself diverged: lower the learning rate (lr) or the IMM weight.")
"""Advice only where it is true: the inputs were checked first (data is named as data)."""


def check_batch_finite(module_id: str, batch: dict) -> None:
    """:class:`NonFiniteLossError` naming the column when the batch's float observations or
    rewards hold a NaN/inf (from the environment or its wrappers, not the optimiser)."""
    for column, what in ((Columns.OBS, "observations"), (Columns.REWARDS, "rewards")):
        value = batch.get(column) if hasattr(batch, "get") else None
        if torch.is_tensor(value) and value.is_floating_point():
            assert_finite(value, f"{module_id}: the batch's {what} (from the environment)")


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


def valid_rows(batch: dict) -> Tensor:
    """The observations of the rows the loss counts (``[V, ...]``)."""
    obs = batch[Columns.OBS]
    return obs if Columns.LOSS_MASK not in batch else obs[batch[Columns.LOSS_MASK]]


def to_all_rows(values: Tensor, batch: dict) -> Tensor:
    """``[V]`` per-valid-row values back to ``[B]`` (zeros outside the loss mask)."""
    if Columns.LOSS_MASK not in batch:
        return values
    mask = batch[Columns.LOSS_MASK]
    return torch.zeros(mask.shape, dtype=values.dtype, device=values.device).masked_scatter(
        mask, values)


def policy_logits(module, obs: Tensor) -> Tensor:
    """Action-distribution inputs of ``module`` at ``obs`` ``[N, ...] -> [N, A]``.

    RLlib's default PPO module runs its critic encoder in every forward pass; the IMM term
    needs only the policy, so for an unwrapped, stateless module with a separate actor
    encoder and a ``pi`` head (RLlib's default PPO module) only those two run: about half
    the work of the ``[B * k]`` forward. Any other module goes through ``forward_train``.
    """
    actor = getattr(getattr(module, "encoder", None), "actor_encoder", None)
    if (actor is not None and hasattr(module, "pi") and module is module.unwrapped()
            and not module.is_stateful()):
        return module.pi(actor({Columns.OBS: obs})[ENCODER_OUT])
    return module.forward_train({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]


class IMMLearner(TorchLearner):
    """Mix in before an algorithm's TorchLearner: ``class L(IMMLearner, PPOTorchLearner)``.

    The host learner defines ``reduce_rows(module_id, batch, values [B]) -> scalar``,
    reducing per-row values exactly as its main loss does.
    """

    @override(TorchLearner)
    def build(self) -> None:
        super().build()
        self.imm_setups = {}
        self.imm_updates = {}  # module id -> minibatch updates seen (for ``every``)
        for module_id in self.module.keys():
            setup = self.config.get_config_for_module(module_id).resolve_imm()
            module = self.module[module_id].unwrapped()
            check_imm_spaces(setup, module.observation_space, module.action_space)
            self.imm_setups[module_id] = setup

    def restricted_actions(self, module_id: str, contexts: Tensor) -> Tensor:
        """``[B, m, *shape]`` draws of the (continuous) restricted policy at ``contexts``,
        in the module's distribution coordinates (no gradient)."""
        setup = self.imm_setups[module_id]
        actions = setup.restricted.sample(contexts, setup.samples)
        return to_module_units(actions, setup.restricted,
                               self.module[module_id].unwrapped().action_space,
                               self.config.normalize_actions)

    def imm_term(self, module_id: str, batch: dict[str, Any]) -> Tensor:
        """The reduced IMM loss of ``batch`` (with gradient)."""
        setup = self.imm_setups[module_id]
        contexts, extended, weights = setup.estimator(valid_rows(batch))
        b, k = extended.shape[:2]
        flat = extended.reshape(b * k, *extended.shape[2:])
        logits = policy_logits(self.module[module_id], flat).view(b, k, -1)  # [B, k, A]
        if is_continuous(setup.restricted):
            actions = self.restricted_actions(module_id, contexts).to(logits)  # [B, m, d]
            log_q = component_log_probs(self.module[module_id].unwrapped(), logits, actions)
            per_row = imm_loss_continuous(log_q, weights, reduction="none")  # [B]
            return self.reduce_rows(module_id, batch, to_all_rows(per_row, batch))
        restricted = setup.restricted.probs(contexts).to(logits)  # [B, A]
        per_row = imm_loss(logits, restricted, weights, reduction="none")  # [B]
        return self.reduce_rows(module_id, batch, to_all_rows(per_row, batch))

    def reverse_kd_term(self, module_id: str, batch: dict[str, Any], fwd_out) -> Tensor:
        """The reduced per-sample CE to the restricted policy (with gradient)."""
        setup = self.imm_setups[module_id]
        logits = fwd_out[Columns.ACTION_DIST_INPUTS]  # [B, A]
        contexts = setup.context(batch[Columns.OBS])
        if is_continuous(setup.restricted):  # k = 1: the row's own observation
            actions = self.restricted_actions(module_id, contexts).to(logits)  # [B, m, d]
            log_q = component_log_probs(self.module[module_id].unwrapped(), logits[:, None],
                                        actions)  # [B, 1, m]
            per_row = imm_loss_continuous(log_q, reduction="none")
            return self.reduce_rows(module_id, batch, per_row)
        restricted = setup.restricted.probs(contexts).to(logits)
        per_row = reverse_kd_loss(logits, restricted, reduction="none")  # [B]
        return self.reduce_rows(module_id, batch, per_row)

    def imm_due(self, module_id: str) -> bool:
        """Whether this update of ``module_id`` gets the term (every ``every``-th, from the
        first); counts the update."""
        seen = self.imm_updates.get(module_id, 0)
        self.imm_updates[module_id] = seen + 1
        return seen % self.imm_setups[module_id].every == 0

    @override(TorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        check_batch_finite(module_id, batch)
        loss = super().compute_loss_for_module(
            module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)
        assert_finite(loss.detach(), f"{module_id}: {LOSS_MAIN}", DIVERGED)
        self.metrics.log_value((module_id, LOSS_MAIN), loss.detach(), window=1)
        setup = self.imm_setups[module_id]
        if setup.imm_lambda == 0 or not self.imm_due(module_id):
            return loss
        if setup.method == "reverse_kd":
            extra, name = self.reverse_kd_term(module_id, batch, fwd_out), LOSS_REVERSE_KD
        else:
            extra, name = self.imm_term(module_id, batch), LOSS_IMM
        assert_finite(extra.detach(), f"{module_id}: {name}", DIVERGED)
        self.metrics.log_value((module_id, name), extra.detach(), window=1)
        return loss + setup.imm_lambda * extra

    @override(TorchLearner)
    def postprocess_gradients_for_module(self, *, module_id, config=None,
                                         module_gradients_dict):
        """Stop on a NaN/inf gradient (RLlib would zero it and step on): one reduction
        over all of the module's gradients, the exact per-tensor test only on failure."""
        grads = [g for g in module_gradients_dict.values() if g is not None]
        if grads and not bool(torch.isfinite(torch.stack([g.sum() for g in grads])).all()):
            bad = sum(not bool(torch.isfinite(g).all()) for g in grads)
            if bad:
                raise NonFiniteLossError(
                    f"{module_id}: {bad} of {len(grads)} gradient tensors are not finite; "
                    f"stopping instead of zeroing them. {DIVERGED}")
        return super().postprocess_gradients_for_module(
            module_id=module_id, config=config, module_gradients_dict=module_gradients_dict)
