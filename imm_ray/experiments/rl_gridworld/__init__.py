"""The paper's grid world: MountainGrid-v0 with a POMDP restricted policy
(docs/rl_gridworld.md; ``sweeps/rl_gridworld.py``).

Importing it registers ``MountainGrid-v0`` with gymnasium and Tune, the grid's plug-in with
:func:`imm_ray.rl.settings.register_env_plugin`, and ``GridIMMPG`` / ``GridIMMPPO`` with Tune.

- :mod:`~imm_ray.experiments.rl_gridworld.plugin`: the POMDP builder, restricted policies,
  the enumerated estimator, the env creator.
- :mod:`~imm_ray.experiments.rl_gridworld.evaluation`: the fast tabular evaluation.
- :mod:`~imm_ray.experiments.rl_gridworld.algorithms`: ``GridIMMPG(Config)``,
  ``GridIMMPPO(Config)``.
- :mod:`~imm_ray.experiments.rl_gridworld.presets`, ``trainable``, ``report``: the sweep.
"""

from ray import tune

from imm_ray.experiments.rl_gridworld.algorithms import (
    GridIMMPG,
    GridIMMPGConfig,
    GridIMMPPO,
    GridIMMPPOConfig,
)
from imm_ray.experiments.rl_gridworld.plugin import GRID_ENV, make_mountain_grid
from imm_ray.rl.registry import keep_registered


def _register_algorithms() -> None:
    tune.register_trainable("GridIMMPG", GridIMMPG)
    tune.register_trainable("GridIMMPPO", GridIMMPPO)


keep_registered(_register_algorithms)

__all__ = ["GRID_ENV", "GridIMMPG", "GridIMMPGConfig", "GridIMMPPO", "GridIMMPPOConfig",
           "make_mountain_grid"]
