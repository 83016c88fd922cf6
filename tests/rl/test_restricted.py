"""Restricted policies: an RLlib checkpoint restores to the probabilities of the algorithm
that wrote it (no gradient), nn.Module / callable policies, and the build-time checks
naming both shapes."""

import gymnasium as gym
import pytest
import torch

from imm_ray.rl import restricted, views
from imm_ray.rl.restricted import check_restricted_setup

CARTPOLE = gym.make("CartPole-v1")


def pole_heuristic(x):
    """A good pole-only policy: push towards where the pole falls (logits [B, 2])."""
    z = 20 * (x[:, 0] + 0.5 * x[:, 1])
    return torch.stack([-z, z], dim=-1)


@pytest.mark.slow
def test_checkpoint_restores_the_probabilities_of_the_algorithm_that_wrote_it(ray_local,
                                                                               tmp_path):
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.columns import Columns

    view = views.select(2, 3)
    algo = (PPOConfig().environment(views.register_view_env("CartPole-v1", view))
            .env_runners(num_env_runners=0)
            .training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1)
            .rl_module(model_config={"fcnet_hiddens": [8]})
            .debugging(seed=0)).build_algo()
    algo.train()
    path = algo.save_to_path(tmp_path / "algo")
    contexts = torch.randn(32, 2)
    logits = algo.get_module().forward_inference({Columns.OBS: contexts})
    want = torch.softmax(logits[Columns.ACTION_DIST_INPUTS], -1)
    for where in (path, tmp_path / "algo" / "learner_group" / "learner" / "rl_module"):
        policy = restricted.from_checkpoint(where, trust_pickle=True)
        got = policy.probs(contexts)
        assert torch.allclose(got, want, atol=1e-6) and not got.requires_grad
        assert policy.num_classes == 2 and policy.input_shape == (2,)
        check_restricted_setup(policy, view, CARTPOLE.observation_space,
                               CARTPOLE.action_space)
    with pytest.raises(ValueError, match=r"takes inputs of shape \(2,\) but restricted_view "
                                         r"select\(0, 1, 2\) gives \(3,\)"):
        check_restricted_setup(policy, views.select(0, 1, 2), CARTPOLE.observation_space,
                               CARTPOLE.action_space)
    algo.stop()


def test_a_missing_checkpoint_names_the_setting_and_the_path(tmp_path):
    with pytest.raises(ValueError, match=f"restricted_policy: no checkpoint at '{tmp_path}/x'"):
        restricted.from_checkpoint(tmp_path / "x", trust_pickle=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no RLModule checkpoint of module "
                                         "'default_policy'"):
        restricted.from_checkpoint(tmp_path / "empty", trust_pickle=True)


def test_module_and_callable_policies():
    logits_policy = restricted.from_module(pole_heuristic, 2, outputs="logits")
    x = torch.tensor([[0.1, 0.0], [-0.1, 0.0]])
    p = logits_policy.probs(x)
    assert p[0, 1] > 0.85 and p[1, 0] > 0.85 and torch.allclose(p.sum(-1), torch.ones(2))
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Softmax(-1))
    probs = restricted.from_module(net, 2).probs(x)
    assert not probs.requires_grad and probs.shape == (2, 2)
    with pytest.raises(ValueError, match=r"returned shape \(2, 2\) .* expected \(2, 3\)"):
        restricted.from_module(net, 3).probs(x)
    with pytest.raises(ValueError, match="must sum to 1"):
        restricted.from_module(lambda c: torch.ones(len(c), 2), 2).probs(x)
    with pytest.raises(ValueError, match="num_actions must be an integer >= 1"):
        restricted.from_module(net, 0)


@pytest.mark.parametrize("policy,view,message", [
    (restricted.from_module(lambda c: torch.full((len(c), 3), 1 / 3), 3), views.select(2, 3),
     r"restricted policy has 3 actions but the environment's action space has 2"),
    (restricted.from_module(pole_heuristic, 2, input_shape=(4,), outputs="logits"),
     views.select(2, 3), r"takes inputs of shape \(4,\) but restricted_view select\(2, 3\) "
                         r"gives \(2,\)"),
    (restricted.from_module(pole_heuristic, 2, outputs="logits"), views.select(3),
     r"failed on a restricted context of shape \(1, 1\) from restricted_view select\(3,\)"),
    (restricted.from_module(pole_heuristic, 2, outputs="logits"), views.select(2, 9),
     r"restricted_view indices \[9\] are out of range"),
])
def test_build_time_checks_name_both_shapes(policy, view, message):
    with pytest.raises(ValueError, match=message):
        check_restricted_setup(policy, view, CARTPOLE.observation_space, CARTPOLE.action_space)
