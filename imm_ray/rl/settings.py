"""IMM settings of an RLlib algorithm config: ``config.imm(...)`` and their validation.

Shared by ``IMMPGConfig`` and ``IMMPPOConfig``::

    config.imm(
        restricted_policy="argmax",   # or {"kind": "softmax", "temperature": 1.0}, or any
                                      # RestrictedModel (imm_ray.protocols) object
        extension=None,               # obs -> (contexts, extended obs, weights); None on
                                      # MountainGrid-v0 = the column belief
        imm_lambda=0.25,              # float, or a schedule spec for imm_ray.core.make_schedule
        dataset_size=50,              # n (epochs) the schedule is evaluated at
        interpolate_ratio=None,       # evaluation-time (1 - r) Q + r Pbar baseline
    )
    config.grid_evaluation(interval=0, num_rollouts=10, rollout_length=22)  # MountainGrid

Restricted-policy kinds (strings/dicts) are solved for the configured MountainGrid.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from ray.rllib.algorithms.algorithm_config import NotProvided

from imm_ray.core import ConstantSchedule, make_schedule
from imm_ray.protocols import RestrictedModel


@dataclass(frozen=True)
class IMMSetup:
    """Resolved IMM settings: what a learner or evaluator actually uses."""

    restricted: Any  # RestrictedModel | None
    extension: Any  # callable | None
    lam: float
    interpolate_ratio: float | None


IMM_DEFAULTS = {"imm_restricted_policy": None, "imm_extension": None, "imm_lambda": 0.0,
                "imm_dataset_size": None, "imm_interpolate_ratio": None,
                "grid_eval_interval": 0, "grid_eval_rollouts": 10, "grid_eval_length": 22}
GRID_EVAL_MINIMUM = {"grid_eval_interval": 0, "grid_eval_rollouts": 1, "grid_eval_length": 1}


class IMMConfigMixin:
    """Adds ``.imm(...)``, ``.grid_evaluation(...)`` and their validation to an
    ``AlgorithmConfig`` subclass."""

    def _init_imm(self) -> None:
        for k, v in IMM_DEFAULTS.items():
            setattr(self, k, v)

    def imm(self, *, restricted_policy=NotProvided, extension=NotProvided,
            imm_lambda=NotProvided, dataset_size=NotProvided, interpolate_ratio=NotProvided):
        """Set the IMM term (see the module docstring); returns the config."""
        given = {"imm_restricted_policy": restricted_policy, "imm_extension": extension,
                 "imm_lambda": imm_lambda, "imm_dataset_size": dataset_size,
                 "imm_interpolate_ratio": interpolate_ratio}
        for k, v in given.items():
            if v is not NotProvided:
                setattr(self, k, v)
        return self

    def grid_evaluation(self, *, interval=NotProvided, num_rollouts=NotProvided,
                        rollout_length=NotProvided):
        """Evaluate on MountainGrid every ``interval`` iterations (0: only on request)
        with ``num_rollouts`` rollouts of ``rollout_length`` steps; returns the config."""
        for k, v in (("grid_eval_interval", interval), ("grid_eval_rollouts", num_rollouts),
                     ("grid_eval_length", rollout_length)):
            if v is not NotProvided:
                setattr(self, k, v)
        return self

    def imm_lambda_value(self) -> float:
        """Lambda for this run: the constant, or the schedule at ``dataset_size``."""
        schedule = make_schedule(self.imm_lambda)  # ValueError for negative lambdas
        if isinstance(schedule, ConstantSchedule):
            return float(schedule.imm_lambda)
        if self.imm_dataset_size is None:
            raise ValueError("imm_lambda is a schedule: set config.imm(dataset_size=n) "
                             "(the number of epochs)")
        return float(schedule(self.imm_dataset_size))

    def _on_grid(self) -> bool:
        from imm_ray.rl.gridworld import GRID_ENV

        return isinstance(self.env, str) and self.env == GRID_ENV

    def resolve_imm(self) -> IMMSetup:
        """Build the restricted policy and extension; raise ValueError on bad settings."""
        from imm_ray.rl import gridworld

        lam = self.imm_lambda_value()
        spec = self.imm_restricted_policy
        if isinstance(spec, (str, dict)):
            if not self._on_grid():
                raise ValueError(f"restricted_policy={spec!r} names a POMDP policy kind, "
                                 f"which is only built for {gridworld.GRID_ENV}; pass a "
                                 "RestrictedModel object for other environments")
            spec = gridworld.grid_restricted_policy(spec, self.env_config, gamma=self.gamma)
        elif spec is not None and not isinstance(spec, RestrictedModel):
            raise ValueError(f"restricted_policy must be a policy kind, a spec dict or a "
                             f"RestrictedModel (num_classes, probs), got {type(spec).__name__}")
        extension = self.imm_extension
        if extension is None and self._on_grid():
            extension = gridworld.grid_extension(self.env_config)
        ratio = self.imm_interpolate_ratio
        if ratio is not None and not (isinstance(ratio, (int, float)) and 0 <= ratio <= 1
                                      and math.isfinite(ratio)):
            raise ValueError(f"interpolate_ratio must be in [0, 1], got {ratio!r}")
        needs = lam > 0 or ratio is not None
        if needs and (spec is None or extension is None):
            raise ValueError("imm_lambda > 0 or interpolate_ratio needs restricted_policy and "
                             "an extension (built automatically only for MountainGrid-v0)")
        return IMMSetup(spec, extension, lam, None if ratio is None else float(ratio))

    def validate_imm(self) -> None:
        """Raise ValueError naming the setting for bad IMM or grid-evaluation settings."""
        for name, low in GRID_EVAL_MINIMUM.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        self.resolve_imm()


def check_num_actions(setup: IMMSetup, num_actions: int) -> None:
    """Raise ValueError unless the restricted policy covers the module's actions."""
    if setup.restricted is not None and setup.restricted.num_classes != num_actions:
        raise ValueError(f"the restricted policy has {setup.restricted.num_classes} actions "
                         f"but the environment's action space has {num_actions}")
