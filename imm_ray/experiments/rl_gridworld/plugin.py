"""The MountainGrid plug-in: everything the generic RL code does not know about the grid.

Importing it (the grid's algorithms and ``GRID_ENV`` do) registers ``MountainGrid-v0`` with
Tune and its
:class:`GridPlugin` with :func:`imm_ray.rl.settings.register_env_plugin`, which supplies:

- restricted-policy kinds: ``"argmax"`` / ``{"kind": "softmax", "temperature": 1.0}`` ->
  the solved POMDP policy of the grid you train on (:func:`grid_restricted_policy`; FIB on
  :func:`mountain_grid_pomdp`, cached);
- the estimator: the uniform belief over the rows of each column (:func:`grid_extension`,
  an :class:`~imm_ray.rl.induced.EnumeratedEstimator`);
- the module: :class:`~imm_ray.rl.module.PopulationMLPModule` (index / member-tagged obs).

The grid's defaults are ``envs.mountain_grid.DEFAULTS``; its fast evaluation is
:mod:`~imm_ray.experiments.rl_gridworld.evaluation`.
"""

from __future__ import annotations

import functools

import numpy as np

import envs
from envs.mountain_grid import DEFAULTS, next_state_table, reward_table
from imm_ray.restricted import pomdp as P
from imm_ray.rl.induced import EnumeratedEstimator
from imm_ray.rl.module import PopulationMLPModule
from imm_ray.rl.registry import keep_registered
from imm_ray.rl.settings import register_env_plugin

GRID_ENV = "MountainGrid-v0"
GRID_KEYS = ("height", "width", "reward_cov", "wraparound")
"""The settings the POMDP depends on (``episode_length`` does not)."""


def grid_params(env_config: dict | None) -> dict:
    """The POMDP-relevant settings of a MountainGrid ``env_config`` (defaults filled)."""
    env_config = dict(env_config or {})
    return {k: env_config.get(k, DEFAULTS[k]) for k in GRID_KEYS}


def mountain_grid_pomdp(height: int = DEFAULTS["height"], width: int = DEFAULTS["width"],
                        reward_cov=DEFAULTS["reward_cov"],
                        wraparound: bool = DEFAULTS["wraparound"]) -> P.TabularPOMDP:
    """The MountainGrid as a POMDP observing the column ``x`` of the state reached.

    ``R[s, a]`` is the reward of the state reached, as the environment pays it.
    """
    nxt = next_state_table(height, width, wraparound)  # [S, A]
    rewards = reward_table(height, width, reward_cov)  # [S]
    s, a = nxt.shape
    T = np.zeros((a, s, s))
    T[np.arange(a)[:, None], np.arange(s)[None, :], nxt.T] = 1.0
    column = np.arange(s) % width
    obs = np.zeros((a, s, width))
    obs[:, np.arange(s), column] = 1.0
    return P.TabularPOMDP(T, obs, rewards[nxt])


@functools.lru_cache(maxsize=16)
def _solved(height, width, reward_cov, wraparound, gamma):
    pomdp = mountain_grid_pomdp(height, width, reward_cov, wraparound)
    return pomdp, P.solve_fib(pomdp, gamma=gamma)


def grid_restricted_policy(spec, env_config: dict | None = None,
                           gamma: float = 0.9) -> P.TabularPolicy:
    """The restricted policy ``spec`` (a kind string or ``{"kind", "temperature",
    "reward_cov"}``) solved for the grid of ``env_config``.

    ``reward_cov`` in the spec overrides the covariance the POMDP is solved with (the
    reference solved with 0.3 while training on 0.1); by default the environment's.
    """
    spec = {"kind": spec} if isinstance(spec, str) else dict(spec)
    kind = spec.pop("kind", None)
    if kind not in P.POLICY_KINDS:
        raise P.policy_kind_error(kind)
    temperature = spec.pop("temperature", 1.0)
    grid = grid_params(env_config)
    grid["reward_cov"] = spec.pop("reward_cov", grid["reward_cov"])
    if spec:
        raise ValueError(f"unknown restricted-policy settings {sorted(spec)}; allowed: "
                         "kind, temperature, reward_cov")
    cov = grid["reward_cov"]
    envs.mountain_grid.check_grid(grid["height"], grid["width"], cov, grid["wraparound"])
    cov = tuple(map(tuple, np.asarray(cov, dtype=float).reshape(2, 2))) \
        if np.ndim(cov) else float(cov)
    pomdp, alpha = _solved(grid["height"], grid["width"], cov, grid["wraparound"],
                           float(gamma))
    return P.pomdp_policy(alpha, P.observation_beliefs(pomdp), kind, temperature)


def grid_extension(env_config: dict | None = None) -> EnumeratedEstimator:
    """Column -> the ``height`` states of that column, uniform belief."""
    g = grid_params(env_config)
    pomdp = mountain_grid_pomdp(g["height"], g["width"], g["reward_cov"], g["wraparound"])
    beliefs = P.observation_beliefs(pomdp)
    return EnumeratedEstimator(P.context_of_state(pomdp), P.conditional_from_beliefs(beliefs))


class GridPlugin:
    """What :mod:`imm_ray.rl.settings` asks of an environment, for MountainGrid-v0."""

    module_class = PopulationMLPModule

    def restricted_policy(self, spec, env_config, gamma):
        return grid_restricted_policy(spec, env_config, gamma=gamma)

    def estimator(self, env_config):
        return grid_extension(env_config)


def make_mountain_grid(env_config: dict):
    """Tune env creator: a single env, or the vectorised one when RLlib passes
    ``num_envs`` (``gym_env_vectorize_mode="vector_entry_point"``)."""
    kwargs = dict(env_config)
    if "num_envs" in kwargs:
        return envs.MountainGridVectorEnv(**kwargs)
    kwargs.pop("tag_members", None)
    return envs.MountainGridEnv(**kwargs)


def register() -> None:
    """Register the env with Tune and the plug-in with the IMM settings."""
    from ray import tune

    tune.register_env(GRID_ENV, make_mountain_grid)
    register_env_plugin(GRID_ENV, GridPlugin())


keep_registered(register)  # again after a Ray restart in this process
