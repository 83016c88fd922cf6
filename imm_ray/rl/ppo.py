"""IMMPPO: RLlib's PPO plus the IMM term (same ``config.imm(...)`` as IMMPG).

The learner is PPO's own torch learner with :class:`~imm_ray.rl.learner.IMMLearner` in
front; the IMM (or reverse-KD) term is reduced like PPO's loss (mean over the loss-masked
rows). The module is RLlib's default PPO module, unless an environment plug-in names
another (MountainGrid: a one-member :class:`~imm_ray.rl.module.PopulationMLPModule` with a
value head, for its ``Discrete`` state index). (A multi-member population is not a set of
independent seeds under PPO: its losses are batch means, its advantages are normalised
over the whole batch and its KL coefficient is shared; use IMMPG, or one trial per
seed.)::

    config = (IMMPPOConfig().environment("CartPole-v1")
              .imm(restricted_view=views.select(2, 3),
                   restricted_policy=restricted.load(path),
                   induced="pool", k=16, imm_lambda=0.5))
"""

from __future__ import annotations

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.algorithms.ppo import PPO, PPOConfig
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override

from imm_ray.rl.learner import IMMLearner, masked_mean
from imm_ray.rl.local_ray import LocalRayOnLoopback
from imm_ray.rl.settings import IMMConfigMixin, check_learning_rate, env_plugin


class IMMPPOConfig(IMMConfigMixin, PPOConfig):
    """PPO + IMM; every ``PPOConfig`` setting applies unchanged."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or IMMPPO)
        self._init_imm()

    @override(PPOConfig)
    def validate(self) -> None:
        super().validate()
        check_learning_rate(self.lr)
        self.validate_imm()

    @override(PPOConfig)
    def get_default_rl_module_spec(self):
        plugin = env_plugin(self.env)
        if plugin is not None and plugin.module_class is not None:
            return RLModuleSpec(module_class=plugin.module_class)
        return super().get_default_rl_module_spec()

    @property
    @override(PPOConfig)
    def _model_config_auto_includes(self) -> dict:
        """PPO needs a value head (PopulationMLPModule reads this; RLlib's default PPO
        module has one anyway); merged under ``.rl_module(model_config=...)``."""
        return super()._model_config_auto_includes | {"value_head": True}

    @override(AlgorithmConfig)
    def get_default_learner_class(self):
        return IMMPPOTorchLearner


class IMMPPOTorchLearner(IMMLearner, PPOTorchLearner):
    """PPO's loss plus ``lambda * imm_loss``, both means over the loss-masked rows."""

    def reduce_rows(self, module_id, batch, values):
        return masked_mean(values, batch)


class IMMPPO(LocalRayOnLoopback, PPO):
    """PPO with the IMM term; a loopback-only local Ray when built without one."""

    @classmethod
    @override(PPO)
    def get_default_config(cls) -> IMMPPOConfig:
        return IMMPPOConfig()
