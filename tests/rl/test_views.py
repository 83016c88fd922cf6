"""imm_ray.rl.views: select / tabular / callable views on NumPy and torch, their spaces
and the errors naming restricted_view, splicing, and the view wrapper (gymnasium's
env checker passes on it)."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from imm_ray.rl import views


def test_select_on_numpy_and_torch_and_its_space():
    view = views.select(2, 3)
    obs = np.arange(8.0).reshape(2, 4)
    np.testing.assert_array_equal(view(obs), [[2, 3], [6, 7]])
    assert torch.equal(view(torch.as_tensor(obs)), torch.tensor([[2.0, 3], [6, 7]],
                                                                dtype=torch.float64))
    full = gym.make("CartPole-v1").observation_space
    space = view.space(full)
    assert space.shape == (2,) and np.array_equal(space.high, full.high[[2, 3]])


@pytest.mark.parametrize("indices,message", [
    ((), "needs at least one index"),
    ((1, 1), "must not repeat"),
    ((-1,), "integers >= 0"),
    ((1.5,), "integers >= 0"),
])
def test_bad_indices_name_restricted_view(indices, message):
    with pytest.raises(ValueError, match=f"restricted_view.*{message}"):
        views.select(*indices)


def test_indices_out_of_range_name_the_view_and_the_space():
    with pytest.raises(ValueError, match=r"restricted_view indices \[4, 7\] are out of range "
                                         r"for the observation space Box.*4 features"):
        views.select(1, 4, 7).space(gym.make("CartPole-v1").observation_space)
    with pytest.raises(ValueError, match="needs a 1-D Box"):
        views.select(0).space(gym.spaces.Discrete(3))


def test_splice_writes_the_restricted_part_of_each_row_into_its_k_samples():
    view = views.select(0, 2)
    obs = torch.randn(3, 4)
    extended = torch.randn(3, 5, 4)
    out = view.splice(extended, obs)
    for b in range(3):  # slow twin
        for j in range(5):
            want = extended[b, j].clone()
            want[[0, 2]] = obs[b, [0, 2]]
            assert torch.equal(out[b, j], want)
    assert not torch.equal(out, extended)  # a copy, the input untouched
    with pytest.raises(ValueError, match=r"extended \[B, k, D\] and obs \[B, D\]"):
        view.splice(extended, obs[:2])


def test_tabular_view():
    view = views.tabular(np.arange(6) % 3)
    assert view(np.array([4, 5])).tolist() == [1, 2]
    assert view(torch.tensor([0, 4])).tolist() == [0, 1]
    assert view.space(gym.spaces.Discrete(6)) == gym.spaces.Discrete(3)
    with pytest.raises(ValueError, match=r"needs Discrete\(6\) observations"):
        view.space(gym.spaces.Discrete(7))
    with pytest.raises(ValueError, match="restricted_view: contexts must be in"):
        views.tabular(np.array([0, -1]))


def test_callable_view_and_check_view():
    view = views.from_callable(lambda o: o[..., :1] * 2, gym.spaces.Box(-1, 1, (1,)))
    assert view(np.ones((2, 3))).tolist() == [[2.0], [2.0]]
    with pytest.raises(ValueError, match="restricted_view: from_callable needs a callable"):
        views.from_callable(3)
    with pytest.raises(ValueError, match="restricted_view must be a view"):
        views.check_view(object())


@pytest.mark.parametrize("view", [views.select(2, 3), views.select(0)])
def test_view_wrapper_passes_the_env_checker(view):
    env = views.make_view_env("CartPole-v1", view)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == view.space(env.env.observation_space).shape
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)


def test_view_wrapper_without_a_space_is_refused():
    with pytest.raises(ValueError, match="does not say its space"):
        views.RestrictedViewWrapper(gym.make("CartPole-v1"), views.from_callable(lambda o: o))


def test_registered_view_env_is_made_by_tune_name():
    from ray.tune.registry import ENV_CREATOR, _global_registry

    name = views.register_view_env("CartPole-v1", views.select(2, 3))
    env = _global_registry.get(ENV_CREATOR, name)({})
    assert env.observation_space.shape == (2,)
