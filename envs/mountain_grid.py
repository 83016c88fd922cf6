"""MountainGrid: the paper's RL grid world as gymnasium environments.

The protocol it is used in: docs/rl_gridworld.md, 'Protocol'.

A ``height x width`` grid (a torus by default). The state is ``(row y, column x)``, observed
as the index ``y * width + x``; actions are UP, DOWN, LEFT, RIGHT (row - 1, row + 1,
column - 1, column + 1), deterministic. Moving into a wall (``wraparound=False``) stays
put. The reward, paid for the state *reached*, is a 2-D Gaussian density ("the mountain")
with covariance ``reward_cov`` evaluated on ``linspace(-2, 2)`` in both axes, so the peak
(``1 / (2 pi 0.1) = 1.59`` for the default) is in the centre. Starts are uniform; episodes
never terminate and are truncated after ``episode_length`` steps (the task is continuing).

- :class:`MountainGridEnv`: one grid (``gymnasium.make("MountainGrid-v0")``).
- :class:`MountainGridVectorEnv`: ``num_envs`` grids stepped in NumPy (``gymnasium.make_vec``
  with ``vectorization_mode="vector_entry_point"``); with ``tag_members=True`` each
  observation is ``[i, state]`` so that sub-env ``i`` can drive member ``i`` of a
  population of independent policies.
- :class:`ColumnObservation`: the POMDP view, only the column ``x`` is observed.

The tables (:func:`next_state_table`, :func:`reward_table`) are shared with the POMDP
builder (``imm_ray.restricted.pomdp``) and the vectorised evaluator, so all agree exactly.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

ACTIONS = ("UP", "DOWN", "LEFT", "RIGHT")
MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]])  # (d row, d column) per action
DEFAULTS = {"height": 11, "width": 11, "reward_cov": 0.1, "wraparound": True,
            "episode_length": 50}
"""The paper's grid (docs/rl_gridworld.md, 'Protocol'); the one place these defaults are defined."""


def _is_int(v) -> bool:
    return not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, np.integer))


def check_grid(height: int, width: int, reward_cov, wraparound: bool,
               episode_length: int | None = None) -> np.ndarray:
    """Validate the grid settings; return the 2x2 reward covariance matrix."""
    for name, v in (("height", height), ("width", width)):
        if not _is_int(v) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if not isinstance(wraparound, (bool, np.bool_)):
        raise ValueError(f"wraparound must be a bool, got {wraparound!r}")
    if episode_length is not None and (not _is_int(episode_length) or episode_length < 1):
        raise ValueError(f"episode_length must be an integer >= 1, got {episode_length!r}")
    cov = _covariance(reward_cov)
    if not np.all(np.isfinite(_density(height, width, cov))):
        raise ValueError(f"reward_cov={reward_cov!r} is too small: the reward density "
                         "overflows to non-finite rewards")
    return cov


def _covariance(reward_cov) -> np.ndarray:
    """``reward_cov`` (a number or a 2x2 matrix) as a checked 2x2 float64 matrix."""
    try:
        cov = np.asarray(reward_cov, dtype=np.float64)
    except (TypeError, ValueError):  # strings, None, ragged lists
        cov = np.full(3, np.nan)  # reported below
    cov = cov * np.eye(2) if cov.ndim == 0 else cov
    if cov.shape != (2, 2) or not np.all(np.isfinite(cov)) or not np.allclose(cov, cov.T):
        raise ValueError(f"reward_cov must be a positive number or a symmetric 2x2 matrix "
                         f"of numbers, got {reward_cov!r}")
    if np.linalg.eigvalsh(cov).min() <= 0:
        raise ValueError(f"reward_cov must be positive definite, got {reward_cov!r}")
    return cov


def _density(height: int, width: int, cov: np.ndarray) -> np.ndarray:
    ys, xs = np.meshgrid(np.linspace(-2, 2, height), np.linspace(-2, 2, width), indexing="ij")
    d = np.stack([ys.ravel(), xs.ravel()], axis=-1)  # [S, 2]
    with np.errstate(all="ignore"):  # a degenerate cov is reported by check_grid
        maha = np.einsum("si,ij,sj->s", d, np.linalg.inv(cov), d)
        return np.exp(-0.5 * maha) / (2 * math.pi * math.sqrt(np.linalg.det(cov)))


def reward_table(height: int = DEFAULTS["height"], width: int = DEFAULTS["width"],
                 reward_cov=DEFAULTS["reward_cov"]) -> np.ndarray:
    """``[height * width]`` reward of reaching each state: the Gaussian density at
    ``(linspace(-2, 2, height)[y], linspace(-2, 2, width)[x])`` (row coordinate first)."""
    return _density(height, width, check_grid(height, width, reward_cov, True))


def next_state_table(height: int = DEFAULTS["height"], width: int = DEFAULTS["width"],
                     wraparound: bool = DEFAULTS["wraparound"]) -> np.ndarray:
    """``[height * width, 4]`` int64: the state reached from each state by each action."""
    check_grid(height, width, 0.1, wraparound)
    y, x = np.divmod(np.arange(height * width), width)
    ny = y[:, None] + MOVES[None, :, 0]
    nx = x[:, None] + MOVES[None, :, 1]
    if wraparound:
        ny, nx = ny % height, nx % width
    else:
        ny, nx = np.clip(ny, 0, height - 1), np.clip(nx, 0, width - 1)
    return (ny * width + nx).astype(np.int64)


class MountainGridEnv(gym.Env):
    """One MountainGrid; observation = state index ``y * width + x`` (``Discrete``)."""

    metadata = {"render_modes": []}

    def __init__(self, height: int = DEFAULTS["height"], width: int = DEFAULTS["width"],
                 reward_cov=DEFAULTS["reward_cov"], wraparound: bool = DEFAULTS["wraparound"],
                 episode_length: int = DEFAULTS["episode_length"]):
        check_grid(height, width, reward_cov, wraparound, episode_length)
        self.height, self.width, self.episode_length = height, width, episode_length
        self.next_state = next_state_table(height, width, wraparound)
        self.rewards = reward_table(height, width, reward_cov)
        self.observation_space = gym.spaces.Discrete(height * width)
        self.action_space = gym.spaces.Discrete(len(ACTIONS))
        self.state, self.t = 0, 0

    def _info(self) -> dict:
        return {"row": self.state // self.width, "col": self.state % self.width}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        start = (options or {}).get("start_state")
        n = self.height * self.width
        if start is not None and (not _is_int(start) or not 0 <= start < n):
            raise ValueError(f"options['start_state'] must be an integer state in [0, {n}), "
                             f"got {start!r}")
        self.state = int(self.np_random.integers(n) if start is None else start)
        self.t = 0
        return self.state, self._info()

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be one of 0..3 {ACTIONS}, got {action!r}")
        self.state = int(self.next_state[self.state, int(action)])
        self.t += 1
        reward = float(self.rewards[self.state])
        return self.state, reward, False, self.t >= self.episode_length, self._info()


class ColumnObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """The POMDP view of a :class:`MountainGridEnv`: only the column ``x`` is observed."""

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        self.grid_width = env.unwrapped.width
        self.observation_space = gym.spaces.Discrete(self.grid_width)

    def observation(self, observation):
        return int(observation) % self.grid_width


class MountainGridVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` independent MountainGrids in NumPy, next-step autoreset.

    With ``tag_members=True`` observations are ``[i, state]`` (``MultiDiscrete``) so a
    population module can route sub-env ``i`` to its member ``i``; infos are empty.
    """

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, height: int = DEFAULTS["height"],
                 width: int = DEFAULTS["width"], reward_cov=DEFAULTS["reward_cov"],
                 wraparound: bool = DEFAULTS["wraparound"],
                 episode_length: int = DEFAULTS["episode_length"], tag_members: bool = False):
        check_grid(height, width, reward_cov, wraparound, episode_length)
        if not _is_int(num_envs) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.num_envs, self.episode_length, self.tag_members = num_envs, episode_length, tag_members
        self.num_states = height * width
        self.next_state = next_state_table(height, width, wraparound)
        self.rewards = reward_table(height, width, reward_cov)
        self.single_observation_space = (
            gym.spaces.MultiDiscrete([num_envs, self.num_states]) if tag_members
            else gym.spaces.Discrete(self.num_states))
        self.single_action_space = gym.spaces.Discrete(len(ACTIONS))
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space,
                                                              num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.states = np.zeros(num_envs, dtype=np.int64)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self._autoreset = np.zeros(num_envs, dtype=bool)

    def _obs(self) -> np.ndarray:
        if not self.tag_members:
            return self.states.copy()
        return np.stack([np.arange(self.num_envs), self.states], axis=-1)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.states = self.np_random.integers(self.num_states, size=self.num_envs)
        self.t[:] = 0
        self._autoreset[:] = False
        return self._obs(), {}

    def step(self, actions):
        given = np.asarray(actions)
        if given.dtype.kind not in "iu" or given.shape != (self.num_envs,) \
                or given.min() < 0 or given.max() > 3:
            raise ValueError(f"actions must be [{self.num_envs}] integers in 0..3 {ACTIONS}, "
                             f"got {given!r} (dtype {given.dtype})")
        actions = given.astype(np.int64)
        fresh = self._autoreset
        moved = self.next_state[self.states, actions]
        starts = self.np_random.integers(self.num_states, size=self.num_envs)
        self.states = np.where(fresh, starts, moved)
        self.t = np.where(fresh, 0, self.t + 1)
        rewards = np.where(fresh, 0.0, self.rewards[self.states])
        truncated = self.t >= self.episode_length
        self._autoreset = truncated.copy()
        return self._obs(), rewards, np.zeros(self.num_envs, dtype=bool), truncated, {}
