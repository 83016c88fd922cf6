"""RLlib algorithms with the IMM term for any discrete-action (and, for IMMPPO, Box-action:
:mod:`imm_ray.rl.continuous`) gymnasium environment;
importing registers them with Tune.

- ``IMMPG`` (:mod:`imm_ray.rl.pg`): REINFORCE + IMM, the paper's learner.
- ``IMMPPO`` (:mod:`imm_ray.rl.ppo`): PPO + IMM.
- ``config.imm(...)`` (:mod:`imm_ray.rl.settings`): restricted view
  (:mod:`imm_ray.rl.views`), restricted policy (:mod:`imm_ray.rl.restricted`),
  induced-policy estimator (:mod:`imm_ray.rl.induced`), lambda, method.
- :func:`~imm_ray.rl.settings.register_env_plugin`: how an environment supplies its own
  restricted policies, estimator and module (the grid world's is
  ``imm_ray/experiments/rl_gridworld/plugin.py``).

After ``import imm_ray.rl``, ``tune.Tuner("IMMPG", param_space=config)`` works (also on
workers).
Submodules import each other, never this package, so there is no import cycle.
"""

import logging

from ray import tune

from imm_ray.rl import restricted, views
from imm_ray.rl.pg import IMMPG, IMMPGConfig
from imm_ray.rl.ppo import IMMPPO, IMMPPOConfig
from imm_ray.rl.registry import keep_registered


def _register_algorithms() -> None:
    tune.register_trainable("IMMPG", IMMPG)
    tune.register_trainable("IMMPPO", IMMPPO)


keep_registered(_register_algorithms)


def _drop_new_api_stack_notice(record: logging.LogRecord) -> bool:
    # RLlib warns "You are running <Algo> on the new API stack!" once per algorithm and
    # process. IMMPG/IMMPPO exist only on that stack (their Learner is the extension
    # point), so the notice tells an IMM user nothing; every other message is kept.
    return "on the new API stack!" not in record.getMessage()


logging.getLogger("ray.rllib.algorithms.algorithm_config").addFilter(
    _drop_new_api_stack_notice)

__all__ = ["IMMPG", "IMMPGConfig", "IMMPPO", "IMMPPOConfig", "restricted", "views"]
