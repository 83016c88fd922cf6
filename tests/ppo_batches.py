"""A hand-built PPO train batch for learner tests (discrete and Box actions alike)."""

from __future__ import annotations

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.evaluation.postprocessing import Postprocessing


def ppo_batch(module, obs: torch.Tensor, actions: torch.Tensor) -> dict:
    """``obs [n, ...]`` and ``actions [n, ...]`` -> the columns PPO's loss reads, with the
    module's own action-distribution inputs and log-probabilities (as if it had acted) and
    random advantages and value targets."""
    n = len(obs)
    with torch.no_grad():
        dist_inputs = module.forward_train({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
        logp = module.get_train_action_dist_cls().from_logits(dist_inputs).logp(actions)
    return {Columns.OBS: obs, Columns.ACTIONS: actions, Columns.ACTION_DIST_INPUTS: dist_inputs,
            Columns.ACTION_LOGP: logp, Postprocessing.ADVANTAGES: torch.randn(n),
            Postprocessing.VALUE_TARGETS: torch.randn(n)}
