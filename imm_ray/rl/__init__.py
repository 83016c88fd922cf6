"""RLlib algorithms with the IMM term; importing registers them with Tune.

- ``IMMPG`` (:mod:`imm_ray.rl.pg`): REINFORCE + IMM, the paper's learner.
- ``IMMPPO`` (:mod:`imm_ray.rl.ppo`): PPO + IMM.

After ``import imm_ray.rl``, ``tune.Tuner("IMMPG", param_space=config)`` works, and the
environment ``MountainGrid-v0`` is known to gymnasium and to Tune (also on workers).
"""

from ray import tune

import envs  # noqa: F401  (registers MountainGrid-v0 with gymnasium)
from imm_ray.rl.gridworld import GRID_ENV
from imm_ray.rl.pg import IMMPG, IMMPGConfig
from imm_ray.rl.ppo import IMMPPO, IMMPPOConfig


def make_mountain_grid(env_config: dict):
    """Tune env creator: a single env, or the vectorised one when RLlib passes
    ``num_envs`` (``gym_env_vectorize_mode="vector_entry_point"``)."""
    from envs.mountain_grid import MountainGridEnv, MountainGridVectorEnv

    kwargs = dict(env_config)
    if "num_envs" in kwargs:
        return MountainGridVectorEnv(**kwargs)
    kwargs.pop("tag_members", None)
    return MountainGridEnv(**kwargs)


tune.register_env(GRID_ENV, make_mountain_grid)
tune.register_trainable("IMMPG", IMMPG)
tune.register_trainable("IMMPPO", IMMPPO)

__all__ = ["IMMPG", "IMMPGConfig", "IMMPPO", "IMMPPOConfig", "make_mountain_grid"]
