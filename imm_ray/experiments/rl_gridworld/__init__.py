"""The paper's grid world: MountainGrid-v0 with a POMDP restricted policy
(docs/rl_gridworld.md; ``sweeps/rl_gridworld.py``).

Its names load on first use (PEP 562), so that the sweep's ``--help`` and a report need
neither torch nor RLlib: ``GridIMMPG(Config)`` / ``GridIMMPPO(Config)`` import the
algorithms, which register them with Tune, and the grid's plug-in (``MountainGrid-v0``
with gymnasium and Tune, :func:`imm_ray.rl.settings.register_env_plugin`); ``GRID_ENV``
and ``make_mountain_grid`` import the plug-in.

- :mod:`~imm_ray.experiments.rl_gridworld.plugin`: the POMDP builder, restricted policies,
  the enumerated estimator, the env creator.
- :mod:`~imm_ray.experiments.rl_gridworld.evaluation`: the fast tabular evaluation.
- :mod:`~imm_ray.experiments.rl_gridworld.algorithms`: ``GridIMMPG(Config)``,
  ``GridIMMPPO(Config)``.
- :mod:`~imm_ray.experiments.rl_gridworld.presets`, ``trainable``, ``report``: the sweep.
"""

import importlib

_LAZY = {"GridIMMPG": "algorithms", "GridIMMPGConfig": "algorithms",
         "GridIMMPPO": "algorithms", "GridIMMPPOConfig": "algorithms",
         "GRID_ENV": "plugin", "make_mountain_grid": "plugin"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
