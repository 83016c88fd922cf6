"""IMMPPO: RLlib's PPO plus the IMM term (same ``config.imm(...)`` as IMMPG).

The learner is PPO's own torch learner with :class:`~imm_ray.rl.learner.IMMLearner` in
front; the IMM term is reduced like PPO's loss (mean over the loss-masked rows). The
default module is a one-member :class:`~imm_ray.rl.module.PopulationMLPModule` with a
value head, so ``Discrete`` observations such as MountainGrid's state index work as is.
(A multi-member population is not a set of independent seeds under PPO: its losses are
batch means and its KL coefficient and minibatches are shared; use IMMPG for that.)::

    config = (IMMPPOConfig().environment("MountainGrid-v0")
              .imm(restricted_policy="argmax", imm_lambda=0.25))
"""

from __future__ import annotations

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.algorithms.ppo import PPO, PPOConfig
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override

from imm_ray.rl.learner import IMMLearner, masked_mean
from imm_ray.rl.module import PopulationMLPModule
from imm_ray.rl.pg import GridEvalMixin
from imm_ray.rl.settings import IMMConfigMixin


class IMMPPOConfig(IMMConfigMixin, PPOConfig):
    """PPO + IMM; every ``PPOConfig`` setting applies unchanged."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or IMMPPO)
        self._init_imm()

    @override(PPOConfig)
    def validate(self) -> None:
        super().validate()
        self.validate_imm()

    @override(PPOConfig)
    def get_default_rl_module_spec(self):
        return RLModuleSpec(module_class=PopulationMLPModule)

    @property
    @override(PPOConfig)
    def _model_config_auto_includes(self) -> dict:
        """PPO needs a value head; merged under ``.rl_module(model_config=...)``."""
        return super()._model_config_auto_includes | {"value_head": True}

    @override(AlgorithmConfig)
    def get_default_learner_class(self):
        return IMMPPOTorchLearner


class IMMPPOTorchLearner(IMMLearner, PPOTorchLearner):
    """PPO's loss plus ``lambda * imm_loss``, both means over the loss-masked rows."""

    def reduce_rows(self, module_id, batch, values):
        return masked_mean(values, batch)


class IMMPPO(GridEvalMixin, PPO):
    """PPO with the IMM term; ``evaluate_grid()`` and ``grid_evaluation(interval=...)`` as
    in IMMPG."""

    @classmethod
    @override(PPO)
    def get_default_config(cls) -> IMMPPOConfig:
        return IMMPPOConfig()

    @override(PPO)
    def training_step(self) -> None:
        super().training_step()
        self._maybe_evaluate_grid()
