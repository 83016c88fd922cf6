"""Ready-made configs: the paper's grid-world learner for a population of seeds.

:func:`grid_population_config` is what the sweep, the benchmark and the tests build: an
``IMMPGConfig`` on ``MountainGrid-v0`` whose ``num_members`` sub-environments each drive
their own member of a :class:`~imm_ray.rl.module.PopulationMLPModule` (member-tagged
observations, NumPy vector env, lean connector pipelines, everything in one process).
"""

from __future__ import annotations

from envs.mountain_grid import DEFAULTS
from imm_ray.experiments.rl_gridworld.algorithms import GridIMMPGConfig
from imm_ray.experiments.rl_gridworld.plugin import GRID_ENV
from imm_ray.rl.connectors import lean_env_runner_settings


def grid_population_config(num_members: int = 30, *, seed: int = 0, grid: dict | None = None,
                           restricted_policy=None, imm_lambda: float = 0.0,
                           interpolate_ratio: float | None = None, lr: float = 1e-2,
                           gamma: float = 0.9, steps_per_epoch: int = 50,
                           hidden: int = 32) -> GridIMMPGConfig:
    """IMMPG for ``num_members`` independent seeds of the grid world's learner
    (docs/rl_gridworld.md, 'Protocol').

    Args:
        grid: MountainGrid settings (``height``, ``width``, ``reward_cov``,
            ``wraparound``, ``episode_length``); defaults are the paper's.
        restricted_policy: ``"argmax"``, ``{"kind": "softmax", "temperature": T}``, a
            RestrictedModel, or None (no IMM term).
        imm_lambda: weight of the IMM term (``r / (1 - r)`` for a ratio ``r``).
    """
    env_config = {**DEFAULTS, **(grid or {}), "tag_members": True}
    env_config["episode_length"] = max(env_config["episode_length"], steps_per_epoch)
    return (
        GridIMMPGConfig()
        .environment(GRID_ENV, env_config=env_config)
        .env_runners(num_env_runners=0, num_envs_per_env_runner=num_members,
                     gym_env_vectorize_mode="vector_entry_point",
                     **lean_env_runner_settings())
        .training(lr=lr, gamma=gamma, steps_per_epoch=steps_per_epoch)
        .rl_module(model_config={"hidden": hidden})
        .imm(restricted_policy=restricted_policy, imm_lambda=imm_lambda,
             interpolate_ratio=interpolate_ratio)
        .debugging(seed=seed)
    )
