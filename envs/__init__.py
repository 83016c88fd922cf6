"""Gymnasium environments of imm_ray; importing this package registers them.

- ``MountainGrid-v0``: the paper's 11 x 11 torus grid world (:mod:`envs.mountain_grid`);
  ``gymnasium.make("MountainGrid-v0", height=..., width=..., reward_cov=...,
  wraparound=..., episode_length=...)``, and ``gymnasium.make_vec(...,
  vectorization_mode="vector_entry_point")`` for the NumPy-vectorised version. Its
  defaults (the paper's grid) are ``envs.mountain_grid.DEFAULTS``, defined once there.
"""

import gymnasium as gym

from envs.mountain_grid import (
    ACTIONS,
    DEFAULTS,
    ColumnObservation,
    MountainGridEnv,
    MountainGridVectorEnv,
    next_state_table,
    reward_table,
)

__all__ = ["ACTIONS", "DEFAULTS", "ColumnObservation", "MountainGridEnv",
           "MountainGridVectorEnv", "next_state_table", "reward_table"]

if "MountainGrid-v0" not in gym.registry:
    gym.register(
        "MountainGrid-v0",
        entry_point="envs.mountain_grid:MountainGridEnv",
        vector_entry_point="envs.mountain_grid:MountainGridVectorEnv",
        disable_env_checker=False,
    )
