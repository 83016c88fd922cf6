"""IMMPG: the paper's RL learner (REINFORCE + IMM) as a custom RLlib algorithm.

One training iteration = one *epoch*: every sub-environment plays ``steps_per_epoch``
steps from a fresh uniform start, the loss is REINFORCE with discounted reward-to-go
(``-log pi(a|s) G_t``, no baseline, no normalisation) plus ``lambda * imm_loss``, and
Adam takes one step. With ``MountainGridVectorEnv(tag_members=True)`` and the
:class:`~imm_ray.rl.module.PopulationMLPModule`, each sub-environment drives its own
policy, so one algorithm trains ``num_envs_per_env_runner`` independent seeds::

    from imm_ray.rl import IMMPGConfig
    config = (IMMPGConfig().environment("CartPole-v1")
              .imm(restricted_view=views.select(2, 3), restricted_policy=policy,
                   induced="pool", k=16, imm_lambda=0.25))
    algo = config.build_algo(); algo.train()

(The grid world's ``GridIMMPG`` adds its fast evaluation:
``imm_ray/experiments/rl_gridworld/algorithms.py``.)
"""

from __future__ import annotations

import tree
from ray.rllib.algorithms import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.connectors.learner import ComputeReturnsToGo
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    LEARNER_RESULTS,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
)

from imm_ray.rl.learner import IMMLearner, masked_mean, member_sum_of_means
from imm_ray.rl.local_ray import LocalRayOnLoopback
from imm_ray.rl.module import PopulationMLPModule, member_ids
from imm_ray.rl.settings import IMMConfigMixin, check_int, check_learning_rate, set_checked


def check_steps_per_epoch(v) -> int:
    return check_int("steps_per_epoch", v, 1)


class IMMPGConfig(IMMConfigMixin, AlgorithmConfig):
    """REINFORCE + IMM. Defaults follow the grid world's protocol (gamma 0.9, Adam lr 1e-2,
    50 steps; docs/rl_gridworld.md, 'Protocol')."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or IMMPG)
        self._init_imm()
        self.steps_per_epoch = 50
        self.lr = 1e-2
        self.gamma = 0.9
        self.num_env_runners = 0

    @override(AlgorithmConfig)
    def training(self, *, steps_per_epoch=NotProvided, **kwargs):
        """``steps_per_epoch``: env steps per sub-environment per update (50)."""
        set_checked(self, {"steps_per_epoch": check_steps_per_epoch},
                    {"steps_per_epoch": steps_per_epoch})
        super().training(**kwargs)
        return self

    @override(AlgorithmConfig)
    def validate(self) -> None:
        super().validate()
        check_steps_per_epoch(self.steps_per_epoch)
        check_learning_rate(self.lr)
        self.validate_imm()

    @override(AlgorithmConfig)
    def get_default_rl_module_spec(self):
        # No model_config here: RLlib merges it over .rl_module(model_config=...), so it
        # would win; the module's DEFAULT_MODEL_CONFIG fills in what the user leaves out.
        return RLModuleSpec(module_class=PopulationMLPModule)

    @override(AlgorithmConfig)
    def get_default_learner_class(self):
        return IMMPGTorchLearner


class PGTorchLearner(TorchLearner):
    """REINFORCE: ``-log pi(a|s) * G_t`` with discounted reward-to-go, per-member means."""

    @override(TorchLearner)
    def build(self) -> None:
        super().build()
        if self.config.add_default_connectors_to_learner_pipeline:
            self._learner_connector.prepend(ComputeReturnsToGo(gamma=self.config.gamma))

    def reduce_rows(self, module_id, batch, values):
        module = self.module[module_id].unwrapped()
        if not isinstance(module, PopulationMLPModule):
            return masked_mean(values, batch)
        members = member_ids(batch[Columns.OBS], module.obs_format)
        return member_sum_of_means(values, members, module.num_members, batch)

    @override(TorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        module = self.module[module_id].unwrapped()
        dist = module.get_train_action_dist_cls().from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
        per_row = -dist.logp(batch[Columns.ACTIONS]) * batch[Columns.RETURNS_TO_GO]
        return self.reduce_rows(module_id, batch, per_row)


class IMMPGTorchLearner(IMMLearner, PGTorchLearner):
    """REINFORCE plus the IMM term (:class:`~imm_ray.rl.learner.IMMLearner`)."""


class PGAlgorithm(Algorithm):
    """One update per epoch of ``steps_per_epoch`` steps in every sub-environment."""

    @override(Algorithm)
    def training_step(self) -> None:
        episodes, runner_metrics = self._sample_epoch()
        self.metrics.aggregate(runner_metrics, key=ENV_RUNNER_RESULTS)
        learner_results = self.learner_group.update(
            episodes=episodes,
            timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: self.metrics.peek(
                (ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)},
        )
        self.metrics.aggregate(learner_results, key=LEARNER_RESULTS)
        self.env_runner_group.sync_weights(from_worker_or_learner_group=self.learner_group,
                                           inference_only=True)

    def _sample_epoch(self):
        """One fresh ``steps_per_epoch``-step trajectory per sub-environment."""
        per_env = self.config.steps_per_epoch
        sampled = self.env_runner_group.foreach_env_runner(
            lambda runner: (runner.sample(num_timesteps=per_env * runner.num_envs,
                                          force_reset=True), runner.get_metrics()),
            local_env_runner=self.env_runner_group.num_remote_workers() <= 0,
        )
        return tree.flatten([s[0] for s in sampled]), [s[1] for s in sampled]


class IMMPG(LocalRayOnLoopback, PGAlgorithm):
    """REINFORCE + IMM; a loopback-only local Ray when built without one."""

    @classmethod
    @override(Algorithm)
    def get_default_config(cls) -> IMMPGConfig:
        return IMMPGConfig()
