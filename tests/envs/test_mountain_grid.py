"""MountainGrid dynamics, rewards, validation, the POMDP view, the vector env, and the
torch evaluator against the gymnasium environment."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from envs.mountain_grid import (
    ColumnObservation,
    MountainGridEnv,
    MountainGridVectorEnv,
    next_state_table,
    reward_table,
)

UP, DOWN, LEFT, RIGHT = range(4)


def gaussian(y, x, cov=0.1):
    return math.exp(-(y * y + x * x) / (2 * cov)) / (2 * math.pi * cov)


def test_registered_on_import_with_paper_defaults():
    env = gym.make("MountainGrid-v0")
    assert env.observation_space == gym.spaces.Discrete(121)
    assert env.action_space == gym.spaces.Discrete(4)
    assert envs.ACTIONS == ("UP", "DOWN", "LEFT", "RIGHT")
    env = gym.make("MountainGrid-v0", height=5, width=7, episode_length=3)
    assert env.observation_space.n == 35


@pytest.mark.parametrize("action,dy,dx", [(UP, -1, 0), (DOWN, 1, 0), (LEFT, 0, -1),
                                          (RIGHT, 0, 1)])
def test_each_action_moves_and_pays_the_state_reached(action, dy, dx):
    env = MountainGridEnv()
    for y, x in [(5, 5), (0, 0), (10, 10), (0, 10), (3, 7)]:
        env.reset(options={"start_state": y * 11 + x})
        s, r, term, trunc, info = env.step(action)
        ny, nx = (y + dy) % 11, (x + dx) % 11
        assert s == ny * 11 + nx and info == {"row": ny, "col": nx}
        coords = np.linspace(-2, 2, 11)
        assert r == pytest.approx(gaussian(coords[ny], coords[nx]), rel=1e-12)
        assert not term and not trunc


def test_walls_without_wraparound_stay_put():
    nxt = next_state_table(3, 4, wraparound=False)
    assert nxt[0, UP] == 0 and nxt[0, LEFT] == 0 and nxt[0, RIGHT] == 1
    assert nxt[11, DOWN] == 11 and nxt[11, RIGHT] == 11 and nxt[11, UP] == 7


def test_reward_mountain_peaks_in_the_centre():
    r = reward_table().reshape(11, 11)
    assert r.argmax() == 60 and r[5, 5] == pytest.approx(1 / (2 * math.pi * 0.1))
    assert np.allclose(r, r.T) and np.allclose(r, r[::-1])
    wide = reward_table(reward_cov=[[0.3, 0.0], [0.0, 0.1]]).reshape(11, 11)
    assert wide[4, 5] > wide[5, 4]  # more spread along rows (the first coordinate)


def test_episodes_truncate_and_never_terminate():
    env = MountainGridEnv(episode_length=3)
    env.reset(seed=0)
    flags = [env.step(RIGHT)[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]


def test_uniform_random_start_and_seeding():
    env = MountainGridEnv()
    starts = [env.reset(seed=i)[0] for i in range(3000)]
    counts = np.bincount(starts, minlength=121)
    assert counts.min() > 5 and counts.max() < 50  # mean 24.8
    assert env.reset(seed=7)[0] == MountainGridEnv().reset(seed=7)[0]


@pytest.mark.parametrize("kwargs,message", [
    ({"height": 0}, "height must be an integer >= 1"),
    ({"width": 2.5}, "width must be an integer >= 1"),
    ({"reward_cov": -0.1}, "positive definite"),
    ({"reward_cov": [[0.1, 0.2], [0.2, 0.1]]}, "positive definite"),
    ({"reward_cov": [[0.1, 0.0], [0.05, 0.1]]}, "symmetric 2x2"),
    ({"wraparound": "yes"}, "wraparound must be a bool"),
    ({"episode_length": 0}, "episode_length must be an integer >= 1"),
])
def test_bad_settings_fail_with_a_clear_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MountainGridEnv(**kwargs)


def test_column_observation_wrapper_is_the_pomdp_view():
    env = ColumnObservation(MountainGridEnv())
    assert env.observation_space == gym.spaces.Discrete(11)
    obs, info = env.reset(options={"start_state": 3 * 11 + 7})
    assert obs == 7
    obs, *_ = env.step(UP)
    assert obs == 7
    obs, *_ = env.step(LEFT)
    assert obs == 6


def test_vector_env_matches_single_envs_and_autoresets():
    vec = MountainGridVectorEnv(num_envs=4, episode_length=5, tag_members=True)
    obs, _ = vec.reset(seed=3)
    assert obs.shape == (4, 2) and (obs[:, 0] == np.arange(4)).all()
    singles = [MountainGridEnv(episode_length=5) for _ in range(4)]
    for e, s in zip(singles, obs[:, 1], strict=True):
        e.reset(options={"start_state": int(s)})
    rng = np.random.default_rng(0)
    for _ in range(5):
        a = rng.integers(4, size=4)
        obs, rew, term, trunc, _ = vec.step(a)
        for i, e in enumerate(singles):
            s, r, _, tr, _ = e.step(int(a[i]))
            assert obs[i, 1] == s and rew[i] == pytest.approx(r) and trunc[i] == tr
    assert trunc.all() and not term.any()
    obs, rew, term, trunc, _ = vec.step(np.zeros(4, dtype=int))  # next-step autoreset
    assert (rew == 0).all() and not trunc.any() and (vec.t == 0).all()


def test_vector_env_through_make_vec():
    vec = gym.make_vec("MountainGrid-v0", num_envs=3, vectorization_mode="vector_entry_point")
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (3,) and vec.single_observation_space == gym.spaces.Discrete(121)
    with pytest.raises(ValueError, match="actions must be"):
        vec.step(np.array([0, 1, 4]))


@pytest.mark.parametrize("wraparound", [True, False])
def test_torch_evaluator_matches_the_gymnasium_env(wraparound):
    from imm_ray.experiments.rl_gridworld.evaluation import evaluate_policy_table, grid_tables

    cfg = {"height": 6, "width": 5, "wraparound": wraparound}
    nxt, rew = grid_tables(cfg)
    rng = np.random.default_rng(1)
    members, n, rollouts, steps = 3, 30, 8, 9
    greedy = rng.integers(4, size=(members, n))
    probs = torch.nn.functional.one_hot(torch.as_tensor(greedy), 4).float()
    starts = torch.as_tensor(rng.integers(n, size=(members, rollouts)))
    got = evaluate_policy_table(probs, nxt, rew, rollouts, steps, starts=starts)
    env = MountainGridEnv(**cfg, episode_length=steps)
    for m in range(members):
        totals = []
        for s0 in starts[m].tolist():
            s, _ = env.reset(options={"start_state": s0})
            total = 0.0
            for _ in range(steps):
                s, r, *_ = env.step(int(greedy[m, s]))
                total += r
            totals.append(total)
        assert got[m].item() == pytest.approx(np.mean(totals), rel=1e-6)


def test_torch_evaluator_samples_the_policy():
    from imm_ray.experiments.rl_gridworld.evaluation import evaluate_policy_table, grid_tables

    nxt, rew = grid_tables({})
    uniform = torch.full((2, 121, 4), 0.25)
    got = evaluate_policy_table(uniform, nxt, rew, 20000, 22, torch.Generator().manual_seed(0))
    assert got.tolist() == pytest.approx([22 * rew.mean().item()] * 2, rel=0.05)


def test_gymnasium_reregistration_warnings_are_filtered_in_tests(pytestconfig):
    """gymnasium warns (ANSI-coloured) when an id is registered again; pyproject's
    filterwarnings silences exactly that message in the test run."""
    import re
    import warnings

    import gymnasium as gym

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for _ in range(2):
            gym.register("ImmRayDuplicate-v0", entry_point="envs.mountain_grid:MountainGridEnv")
    message = next(str(w.message) for w in seen if "Overriding environment" in str(w.message))
    patterns = [f.split(":")[1] for f in pytestconfig.getini("filterwarnings")
                if f.startswith("ignore:") and "Overriding" in f]
    assert any(re.match(p, message) for p in patterns), (message, patterns)
    gym.registry.pop("ImmRayDuplicate-v0")
