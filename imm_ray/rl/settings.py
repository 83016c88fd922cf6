"""IMM settings of an RLlib algorithm config: ``config.imm(...)``, their checks, and the
registry of environment plug-ins. Shared by ``IMMPGConfig`` and ``IMMPPOConfig``::

    config.imm(
        restricted_policy=load(path),  # any RestrictedModel (imm_ray.protocols):
                                   # imm_ray.rl.restricted.from_checkpoint / from_module, a
                                   # POMDP table; or a kind string/dict an env plug-in builds
        restricted_view=select(2, 3),   # imm_ray.rl.views: obs -> restricted context
        induced="pool",            # "pool" | "neighbours" | "binned" | "enumerated" | object
        k=16, pool_size=None, bins=8,   # estimator settings (imm_ray.rl.induced)
        samples=8,                 # Box actions: m actions drawn from Pbar per row
        method="imm",              # or "reverse_kd": per-sample CE(Pbar(.|x_i), Q(.|s_i))
        every=1,                   # the term on every j-th minibatch update (amortised)
        imm_lambda=0.25,           # float, or a schedule spec for imm_ray.core.make_schedule
        dataset_size=None,         # n (iterations) a schedule is evaluated at
        interpolate_ratio=None,    # evaluation-time (1 - r) Q + r Pbar baseline
    )

Every value is checked when it is set (a ValueError naming it; RLlib's config round trip
silently drops values equal to -1, its "deprecated" marker, so checking only at build
time would miss ``imm_lambda=-1``) and again when the algorithm is built. NumPy scalars
and 0-d tensors are accepted as numbers; Tune search spaces (``tune.grid_search``) are
checked once Tune has resolved them.

An *environment plug-in* (:func:`register_env_plugin`) gives an environment id defaults
the generic code cannot know: restricted-policy kinds (``"argmax"``), the estimator of a
known belief, and the RLModule class (the grid world registers one); nothing
in this module knows an environment.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from ray.rllib.algorithms.algorithm_config import NotProvided

from imm_ray.core import ConstantSchedule, make_schedule
from imm_ray.protocols import RestrictedModel
from imm_ray.rl.continuous import is_continuous
from imm_ray.rl.induced import ESTIMATORS, make_estimator
from imm_ray.rl.restricted import check_restricted_setup
from imm_ray.rl.views import check_view

METHODS = ("imm", "reverse_kd")


class EnvPlugin(Protocol):
    """What an environment contributes to ``config.imm(...)``'s defaults."""

    module_class: type | None
    """Default RLModule class (None: the algorithm's own default)."""

    def restricted_policy(self, spec: str | dict, env_config: dict, gamma: float):
        """A RestrictedModel for a kind string or spec dict; ValueError if unknown."""

    def estimator(self, env_config: dict):
        """The default (enumerated) induced-policy estimator of the environment."""


ENV_PLUGINS: dict[str, EnvPlugin] = {}


def register_env_plugin(env_id: str, plugin: EnvPlugin) -> None:
    """Make ``plugin`` supply the defaults of environment ``env_id``."""
    ENV_PLUGINS[env_id] = plugin


def env_plugin(env) -> EnvPlugin | None:
    return ENV_PLUGINS.get(env) if isinstance(env, str) else None


@dataclass(frozen=True)
class IMMSetup:
    """Resolved IMM settings: what a learner or evaluator actually uses."""

    restricted: Any  # RestrictedModel | None
    view: Any  # restricted view | None
    estimator: Any  # induced-policy estimator | None
    imm_lambda: float
    method: str
    interpolate_ratio: float | None
    every: int = 1
    """The term is added on every ``every``-th minibatch update of the module."""
    samples: int = 8
    """Box actions: ``m`` actions drawn from the restricted policy per row."""

    def context(self, obs):
        """Restricted context of full observations (the estimator's, else the view's)."""
        if self.estimator is not None:
            return self.estimator.restricted_context(obs)
        return self.view(obs)


IMM_DEFAULTS = {"imm_restricted_policy": None, "imm_restricted_view": None,
                "imm_induced": None, "imm_k": 16, "imm_pool_size": None, "imm_bins": 8,
                "imm_method": "imm", "imm_lambda": 0.0, "imm_dataset_size": None,
                "imm_interpolate_ratio": None, "imm_every": 1, "imm_samples": 8}


def is_search_space(value) -> bool:
    """A Tune search space (resolved later by Tune, checked then)."""
    from ray.tune.search.sample import Domain

    return isinstance(value, Domain) or (isinstance(value, dict) and set(value) == {
        "grid_search"})


def as_number(name: str, value, *, integer: bool = False):
    """``value`` as a Python int/float (NumPy scalars, 0-d tensors); ValueError naming
    ``name`` and the type otherwise."""
    if torch.is_tensor(value):
        if value.dim() != 0:
            raise ValueError(f"{name} must be a number, got a tensor of shape "
                             f"{tuple(value.shape)}")
        value = value.item()
    elif isinstance(value, np.generic):
        value = value.item()
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError(f"{name} must be {'an integer' if integer else 'a number'}, got "
                         f"{type(value).__name__} {value!r}")
    return int(value) if integer else float(value)


def check_int(name: str, value, low: int, allow_none: bool = False):
    if value is None and allow_none:
        return None
    v = as_number(name, value, integer=True)
    if v < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    return v


def check_ratio(name: str, value):
    if value is None:
        return None
    v = as_number(name, value)
    if not (math.isfinite(v) and 0 <= v <= 1):
        raise ValueError(f"{name} must be in [0, 1], got {v!r}")
    return v


def check_lambda(value):
    if isinstance(value, (str, dict)):
        make_schedule(value)  # ValueError for unknown presets / bad fields
        return value
    v = as_number("imm_lambda", value)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"imm_lambda must be a finite number >= 0 (or a schedule spec), got "
                         f"{v!r}")
    return v


def check_learning_rate(lr) -> None:
    """A constant ``lr`` must be a finite number > 0 (RLlib's schedule lists pass)."""
    if isinstance(lr, (list, tuple)):
        return
    v = as_number("lr", lr)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"lr must be a finite number > 0, got {v!r}")


def check_choice(name: str, value, allowed, objects_ok: bool = False):
    if objects_ok and value is not None and not isinstance(value, str) and callable(value):
        return value
    if value not in allowed:
        extra = " or an estimator object" if objects_ok else ""
        raise ValueError(f"{name} must be one of {list(allowed)}{extra}, got {value!r}")
    return value


def check_policy(value):
    if value is None or isinstance(value, (str, dict, RestrictedModel)) or is_continuous(
            value):
        return value
    raise ValueError(f"restricted_policy must be a RestrictedModel (num_classes, probs), e.g. "
                     f"imm_ray.rl.restricted.from_checkpoint(path), a continuous one "
                     f"(action_space, sample; imm_ray.rl.continuous), or a kind an environment "
                     f"plug-in builds; got {type(value).__name__}")


def check_view_setting(value):
    if value is not None:
        check_view(value)
    return value


CHECKS = {
    "imm_restricted_policy": check_policy,
    "imm_restricted_view": check_view_setting,
    "imm_induced": lambda v: check_choice("induced", v, (None, *ESTIMATORS), objects_ok=True),
    "imm_k": lambda v: check_int("k", v, 1),
    "imm_pool_size": lambda v: check_int("pool_size", v, 1, allow_none=True),
    "imm_bins": lambda v: check_int("bins", v, 1),
    "imm_method": lambda v: check_choice("method", v, METHODS),
    "imm_lambda": check_lambda,
    "imm_dataset_size": lambda v: check_int("dataset_size", v, 1, allow_none=True),
    "imm_interpolate_ratio": lambda v: check_ratio("interpolate_ratio", v),
    "imm_every": lambda v: check_int("every", v, 1),
    "imm_samples": lambda v: check_int("samples", v, 1),
}
"""Config attribute -> checker returning the value to store (numbers made Python)."""


def set_checked(config, checks: dict, given: dict) -> None:
    """Check and set every provided value of ``given`` (attribute -> value)."""
    for attr, value in given.items():
        if value is NotProvided:
            continue
        setattr(config, attr, value if is_search_space(value) else checks[attr](value))


class IMMConfigMixin:
    """Adds ``.imm(...)`` and its validation to an ``AlgorithmConfig`` subclass."""

    def _init_imm(self) -> None:
        for k, v in IMM_DEFAULTS.items():
            setattr(self, k, v)

    def imm(self, *, restricted_policy=NotProvided, restricted_view=NotProvided,
            induced=NotProvided, k=NotProvided, pool_size=NotProvided, bins=NotProvided,
            method=NotProvided, imm_lambda=NotProvided, dataset_size=NotProvided,
            interpolate_ratio=NotProvided, every=NotProvided, samples=NotProvided):
        """Set the IMM term (see the module docstring); returns the config."""
        set_checked(self, CHECKS, {
            "imm_restricted_policy": restricted_policy, "imm_restricted_view": restricted_view,
            "imm_induced": induced, "imm_k": k, "imm_pool_size": pool_size, "imm_bins": bins,
            "imm_method": method, "imm_lambda": imm_lambda, "imm_dataset_size": dataset_size,
            "imm_interpolate_ratio": interpolate_ratio, "imm_every": every,
            "imm_samples": samples})
        return self

    def imm_lambda_value(self) -> float:
        """Lambda for this run: the constant, or the schedule at ``dataset_size``."""
        schedule = make_schedule(check_lambda(self.imm_lambda))
        if isinstance(schedule, ConstantSchedule):
            return float(schedule.imm_lambda)
        if self.imm_dataset_size is None:
            raise ValueError("imm_lambda is a schedule: set config.imm(dataset_size=n) "
                             "(the number of iterations)")
        return float(schedule(self.imm_dataset_size))

    def resolve_imm(self) -> IMMSetup:
        """Check every IMM setting and build the restricted policy and estimator;
        ValueError naming the setting on bad ones."""
        for attr, check in CHECKS.items():
            check(getattr(self, attr))
        imm_lambda = self.imm_lambda_value()
        plugin = env_plugin(self.env)
        restricted = self._restricted(plugin)
        estimator = self._estimator(plugin)
        view, ratio = self.imm_restricted_view, self.imm_interpolate_ratio
        if (imm_lambda > 0 or ratio is not None) and restricted is None:
            raise ValueError("imm_lambda > 0 or interpolate_ratio needs restricted_policy")
        if imm_lambda > 0 and self.imm_method == "imm" and estimator is None:
            raise ValueError("method='imm' with imm_lambda > 0 needs an induced-policy "
                             "estimator: restricted_view=select(...) with induced='pool', "
                             "'neighbours' or 'binned', or an estimator object (built "
                             f"automatically only for {sorted(ENV_PLUGINS)})")
        if restricted is not None and estimator is None and view is None:
            raise ValueError("restricted_policy needs restricted_view (what it sees of an "
                             "observation), e.g. imm_ray.rl.views.select(2, 3)")
        return IMMSetup(restricted, view, estimator, imm_lambda, self.imm_method,
                        None if ratio is None else float(ratio), self.imm_every,
                        self.imm_samples)

    def _restricted(self, plugin):
        spec = self.imm_restricted_policy
        if not isinstance(spec, (str, dict)):
            return spec
        if plugin is None:
            raise ValueError(f"restricted_policy={spec!r} names a policy kind, which only an "
                             f"environment plug-in builds (registered: {sorted(ENV_PLUGINS)}); "
                             "pass a RestrictedModel object for other environments")
        return plugin.restricted_policy(spec, self.env_config, self.gamma)

    def _estimator(self, plugin):
        induced, view = self.imm_induced, self.imm_restricted_view
        if induced is None:
            induced = "pool" if view is not None else ("enumerated" if plugin else None)
        if induced is None or not isinstance(induced, str):
            return induced
        if induced == "enumerated":
            if plugin is None:
                raise ValueError("induced='enumerated' needs the belief: pass an "
                                 "imm_ray.rl.induced.EnumeratedEstimator object (built "
                                 f"automatically only for {sorted(ENV_PLUGINS)})")
            return plugin.estimator(self.env_config)
        if view is None:
            raise ValueError(f"induced={induced!r} needs restricted_view, e.g. "
                             "imm_ray.rl.views.select(2, 3)")
        return make_estimator(induced, view, self.imm_k, self.imm_pool_size, self.imm_bins)

    def validate_imm(self) -> None:
        """Raise ValueError naming the setting for bad IMM settings."""
        self.resolve_imm()
        self.check_imm_memory()

    def check_imm_memory(self) -> None:
        """``method="imm"`` forwards ``[B * k, ...]`` extended observations per minibatch
        of ``B`` rows: refuse a ``k`` whose logits alone (2+ actions, float32) cannot fit."""
        k = self.imm_k
        if self.imm_method != "imm" or self.imm_restricted_policy is None or \
                is_search_space(k):
            return
        rows = getattr(self, "minibatch_size", None) or self.train_batch_size
        if isinstance(rows, numbers.Integral) and rows > 0:
            from imm_ray.checks import check_memory

            check_memory("k", float(rows) * k * 2 * 4,
                         f"the [B={rows} * k={k}, actions] policy logits of one IMM minibatch")


def check_imm_spaces(setup: IMMSetup, observation_space, action_space) -> None:
    """Build-time check against the module's spaces: the view fits the observations, the
    restricted policy has the action count and accepts the view's contexts."""
    if setup.restricted is not None:
        check_restricted_setup(setup.restricted, setup.view, observation_space, action_space)
    if setup.estimator is not None and setup.method == "imm":
        check_estimator(setup.estimator, observation_space)


def check_estimator(estimator, observation_space, rows: int = 4) -> None:
    """Once at build time, on ``rows`` sample observations (of a copy: a pooled estimator
    keeps what it sees): ``induced`` is an estimator and returns ``(contexts [B, ...],
    extended [B, k, *obs], weights [B, k] or None)``; else ValueError naming ``induced``."""
    import copy

    if not callable(estimator) or not callable(getattr(estimator, "restricted_context", None)):
        raise ValueError(f"induced must be an estimator (imm_ray.rl.induced: a callable "
                         "obs [B, ...] -> (contexts, extended [B, k, ...], weights [B, k] or "
                         f"None) with .restricted_context(obs)), got {type(estimator).__name__}")
    obs = torch.as_tensor(np.stack([observation_space.sample() for _ in range(rows)]))
    try:
        out = copy.deepcopy(estimator)(obs)
    except Exception as e:  # the user's code: say where it failed, with its own message
        raise ValueError(f"induced estimator failed on {rows} sample observations of shape "
                         f"{tuple(obs.shape)}: {type(e).__name__}: {e}") from e
    ok = isinstance(out, tuple) and len(out) == 3 and torch.is_tensor(out[1]) and \
        out[1].dim() == obs.dim() + 1 and tuple(out[1].shape[:1]) == (rows,) and \
        tuple(out[1].shape[2:]) == tuple(obs.shape[1:])
    weights = out[2] if ok else None
    if ok and weights is not None:
        ok = torch.is_tensor(weights) and tuple(weights.shape) == tuple(out[1].shape[:2])
    if not ok:
        got = tuple(tuple(t.shape) if torch.is_tensor(t) else type(t).__name__ for t in out) \
            if isinstance(out, tuple) else type(out).__name__
        raise ValueError(f"induced estimator must return (contexts [B, ...], extended "
                         f"[B={rows}, k, {', '.join(map(str, obs.shape[1:])) or '-'}], weights "
                         f"[B, k] or None) for observations {tuple(obs.shape)}, got {got}")
