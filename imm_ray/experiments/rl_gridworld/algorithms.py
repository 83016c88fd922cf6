"""The grid world's algorithms: the library's IMMPG / IMMPPO plus the grid's fast
evaluation (``config.grid_evaluation(...)``, ``algo.evaluate_grid()``).

The library algorithms know no environment; these subclasses add the evaluation through
RLlib's public surface (a config method, ``training_step`` calling ``super()``), the way a
user would add their own environment's evaluation::

    config = (GridIMMPGConfig().environment("MountainGrid-v0")
              .imm(restricted_policy="argmax", imm_lambda=1.0)
              .grid_evaluation(interval=5))
"""

from __future__ import annotations

from ray import tune

from imm_ray.experiments.rl_gridworld.evaluation import GridEvaluation, GridEvaluationConfig
from imm_ray.rl.pg import IMMPG, IMMPGConfig
from imm_ray.rl.ppo import IMMPPO, IMMPPOConfig
from imm_ray.rl.registry import keep_registered


class GridIMMPGConfig(GridEvaluationConfig, IMMPGConfig):
    """:class:`~imm_ray.rl.pg.IMMPGConfig` with ``grid_evaluation(...)``."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or GridIMMPG)


class GridIMMPPOConfig(GridEvaluationConfig, IMMPPOConfig):
    """:class:`~imm_ray.rl.ppo.IMMPPOConfig` with ``grid_evaluation(...)``."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or GridIMMPPO)


class GridIMMPG(GridEvaluation, IMMPG):
    """IMMPG with ``evaluate_grid()`` and the periodic ``grid_evaluation(interval=...)``."""

    @classmethod
    def get_default_config(cls) -> GridIMMPGConfig:
        return GridIMMPGConfig()


class GridIMMPPO(GridEvaluation, IMMPPO):
    """IMMPPO with ``evaluate_grid()`` and the periodic ``grid_evaluation(interval=...)``."""

    @classmethod
    def get_default_config(cls) -> GridIMMPPOConfig:
        return GridIMMPPOConfig()


def _register_algorithms() -> None:
    tune.register_trainable("GridIMMPG", GridIMMPG)
    tune.register_trainable("GridIMMPPO", GridIMMPPO)


keep_registered(_register_algorithms)  # importing this module registers them with Tune
