"""IMM with continuous (Box) actions on Pendulum: the IMM term of a hand-built batch
equals core.imm_loss_continuous of the policy's Gaussians over the spliced observations,
reverse-KD is its k = 1 case at the row's own observation, the loss is PPO plus lambda
times the term (on every j-th update with every=j), restricted policies from a module, a
torch.distributions object, a deterministic callable and an RLlib checkpoint, and
build-time refusals naming both spaces."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from ppo_batches import ppo_batch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns

from imm_ray.core import gaussian_log_probs, imm_loss_continuous
from imm_ray.metrics import LOSS_IMM, LOSS_REVERSE_KD
from imm_ray.rl import IMMPPOConfig, restricted, views
from imm_ray.rl.continuous import from_gaussian_module, to_module_units

ENV = "Pendulum-v1"  # obs (cos, sin, angular velocity); action torque in [-2, 2]
SPACE = gym.make(ENV).action_space
VIEW = views.select(0, 1)
STD = 0.6


def angle_policy():
    """A Gaussian on the view (cos, sin) in environment units: mean -2 sin, std 0.6."""
    return from_gaussian_module(
        lambda x: (-2 * x[:, 1:2], torch.full((len(x), 1), float(np.log(STD)))), SPACE,
        input_shape=(2,))


def learner(imm_lambda=0.5, **imm):
    cfg = (IMMPPOConfig().environment(ENV)
           .rl_module(model_config={"fcnet_hiddens": [16]})
           .imm(**{"restricted_view": VIEW, "restricted_policy": angle_policy(),
                   "induced": "pool", "k": 4, "samples": 3, "imm_lambda": imm_lambda,
                   **imm}))
    return cfg.build_learner(env=gym.make(ENV))


def gaussian_of(module, obs):
    """``(mean, log_std)`` ``[N, 1]`` each of RLlib's default PPO module at ``obs``."""
    out = module.forward_train({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    return out[:, :1], out[:, 1:]


def pendulum_obs(n, gen):
    theta = torch.rand(n, generator=gen) * 2 * np.pi
    return torch.stack([theta.cos(), theta.sin(), torch.randn(n, generator=gen) * 3], -1)


def test_imm_term_equals_core_over_the_spliced_observations():
    lrn = learner()
    module = lrn.module[DEFAULT_MODULE_ID]
    obs = pendulum_obs(6, torch.Generator().manual_seed(0))
    torch.manual_seed(11)
    term = lrn.imm_term(DEFAULT_MODULE_ID, {Columns.OBS: obs})
    torch.manual_seed(11)  # the same pool draws, then the same restricted draws
    idx = torch.randint(6, (6, 4))
    noise = torch.randn(6, 3, 1)
    rows = []
    for b in range(6):  # slow twin: splice row b's (cos, sin) into its 4 pooled rows
        spliced = obs[idx[b]].clone()
        spliced[:, :2] = obs[b, :2]
        actions = (-2 * obs[b, 1] + STD * noise[b]) / 2  # env units -> RLlib's [-1, 1]
        mean, log_std = gaussian_of(module, spliced)
        log_q = gaussian_log_probs(mean[None], log_std[None], actions[None])  # [1, 4, 3]
        rows.append(imm_loss_continuous(log_q))
    assert term.item() == pytest.approx(torch.stack(rows).mean().item(), rel=1e-5)


def pendulum_batch(module, n=8):
    obs = pendulum_obs(n, torch.Generator().manual_seed(1))
    return ppo_batch(module, obs, torch.randn(n, 1) * 0.5)


@pytest.mark.parametrize("method,metric", [("imm", LOSS_IMM), ("reverse_kd", LOSS_REVERSE_KD)])
def test_loss_is_ppo_plus_lambda_times_the_term(method, metric):
    lrn, plain = learner(0.5, method=method), learner(0.0)
    module = lrn.module[DEFAULT_MODULE_ID]
    plain.module[DEFAULT_MODULE_ID].set_state(module.get_state())
    batch = pendulum_batch(module)
    fwd = module.forward_train(batch)
    torch.manual_seed(5)
    total = lrn.compute_loss_for_module(module_id=DEFAULT_MODULE_ID, config=lrn.config,
                                        batch=batch, fwd_out=fwd)
    main = plain.compute_loss_for_module(module_id=DEFAULT_MODULE_ID, config=plain.config,
                                         batch=batch, fwd_out=fwd)
    torch.manual_seed(5)
    if method == "imm":
        term = lrn.imm_term(DEFAULT_MODULE_ID, batch)
    else:  # slow twin: -mean_i log Q(a_i | own observation), a_i ~ Pbar, per row
        obs = batch[Columns.OBS]
        actions = (-2 * obs[:, 1:2, None] + STD * torch.randn(8, 3, 1)) / 2  # [8, 3, 1]
        mean, log_std = gaussian_of(module, obs)
        term = torch.stack([imm_loss_continuous(gaussian_log_probs(
            mean[b:b + 1, None], log_std[b:b + 1, None], actions[b:b + 1])) for b in range(8)
        ]).mean()
    assert total.item() == pytest.approx((main + 0.5 * term).item(), rel=1e-5)
    logged = lrn.metrics.reduce()[DEFAULT_MODULE_ID]
    assert float(logged[metric]) == pytest.approx(term.item(), rel=1e-5)


def test_every_applies_to_the_continuous_term():
    lrn, plain = learner(0.5, every=2), learner(0.0)
    module = lrn.module[DEFAULT_MODULE_ID]
    plain.module[DEFAULT_MODULE_ID].set_state(module.get_state())
    batch = pendulum_batch(module)
    fwd = module.forward_train(batch)
    main = plain.compute_loss_for_module(module_id=DEFAULT_MODULE_ID, config=plain.config,
                                         batch=batch, fwd_out=fwd).item()
    totals = [lrn.compute_loss_for_module(module_id=DEFAULT_MODULE_ID, config=lrn.config,
                                          batch=batch, fwd_out=fwd).item() for _ in range(4)]
    assert totals[1] == pytest.approx(main) and totals[3] == pytest.approx(main)
    assert totals[0] != pytest.approx(main) and totals[2] != pytest.approx(main)


def test_distribution_deterministic_and_unit_conversion():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    normal = from_gaussian_module(
        lambda c: torch.distributions.Normal(c[:, :1], torch.ones(len(c), 1)), SPACE)
    det = from_gaussian_module(lambda c: c[:, 1:2], SPACE)
    torch.manual_seed(0)
    assert normal.sample(x, 5).shape == (2, 5, 1)
    assert torch.equal(normal.mean(x), x[:, :1])
    assert torch.equal(det.sample(x, 3), x[:, 1:2, None].expand(2, 3, 1))
    env_units = torch.tensor([[[-2.0], [0.0], [1.0]]])
    torch.testing.assert_close(to_module_units(env_units, det, SPACE, True),
                               torch.tensor([[[-1.0], [0.0], [0.5]]]))
    assert torch.equal(to_module_units(env_units, det, SPACE, False), env_units)


@pytest.mark.parametrize("imm,message", [
    ({"restricted_policy": from_gaussian_module(lambda c: c[:, :1], gym.spaces.Box(-1, 1))},
     r"acts in Box\(-1.0, 1.0, \(1,\), float32\) but the environment's action space is "
     r"Box\(-2.0, 2.0, \(1,\), float32\)"),
    ({"restricted_policy": from_gaussian_module(lambda c: c, gym.spaces.Box(-2, 2, (2,)))},
     r"acts in Box\(-2.0, 2.0, \(2,\), float32\) but the environment's action space is "
     r"Box\(-2.0, 2.0, \(1,\)"),
    ({"restricted_policy": from_gaussian_module(lambda c: c, SPACE)},
     r"returned actions of shape \(1, 2\) for contexts \(1, 2\); expected \(1, 1\)"),
    ({"restricted_policy": restricted.from_module(lambda c: torch.full((len(c), 3), 1 / 3), 3)},
     r"has 3 discrete actions but the environment's action space is Box\(-2.0, 2.0"),
])
def test_bad_settings_fail_at_build_time_naming_both_spaces(imm, message):
    with pytest.raises(ValueError, match=message):
        learner(**imm)


def test_samples_below_one_and_a_box_policy_on_discrete_actions_are_refused():
    with pytest.raises(ValueError, match="samples must be an integer >= 1, got 0"):
        IMMPPOConfig().imm(samples=0)
    cfg = IMMPPOConfig().environment(ENV).imm(restricted_view=VIEW, imm_lambda=0.5,
                                              restricted_policy=angle_policy())
    cfg.imm_samples = 0  # set past .imm(): still refused when the algorithm is built
    with pytest.raises(ValueError, match="samples must be an integer >= 1, got 0"):
        cfg.build_learner(env=gym.make(ENV))
    cart = (IMMPPOConfig().environment("CartPole-v1")
            .imm(restricted_view=views.select(2, 3), restricted_policy=angle_policy(),
                 imm_lambda=0.5))
    with pytest.raises(ValueError, match=r"acts in Box\(-2.0, 2.0.* but the environment's "
                                         r"action space is Discrete\(2\)"):
        cart.build_learner(env=gym.make("CartPole-v1"))


def test_checkpoint_of_a_box_module_draws_from_its_gaussian(ray_local, tmp_path):
    """A PPO policy trained on the view env, saved, and loaded by from_checkpoint: draws
    have the right shape and the mean of many draws is the module's mean."""
    from ray.rllib.algorithms.ppo import PPOConfig

    from imm_ray.rl.continuous import ContinuousModulePolicy
    from imm_ray.rl.views import register_view_env

    view_env = register_view_env(ENV, VIEW)
    algo = (PPOConfig().environment(view_env)
            .env_runners(num_env_runners=0, num_envs_per_env_runner=1)
            .training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1)
            .rl_module(model_config={"fcnet_hiddens": [8]})).build_algo()
    algo.train()
    algo.save_to_path(tmp_path / "ckpt")
    module = algo.get_module()
    algo.stop()
    policy = restricted.from_checkpoint(tmp_path / "ckpt", trust_pickle=True)
    assert isinstance(policy, ContinuousModulePolicy)
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    torch.manual_seed(0)
    draws = policy.sample(x, 4000)
    assert draws.shape == (2, 4000, 1)
    with torch.no_grad():
        loc = module.forward_inference({Columns.OBS: x})[Columns.ACTION_DIST_INPUTS][:, :1]
    torch.testing.assert_close(policy.mean(x), loc)
    torch.testing.assert_close(draws.mean(1), loc, atol=0.1, rtol=0)
    lrn = learner(restricted_policy=policy)  # accepted by the build-time check
    assert isinstance(lrn.imm_setups[DEFAULT_MODULE_ID].restricted, ContinuousModulePolicy)
    assert torch.isfinite(lrn.imm_term(DEFAULT_MODULE_ID, {Columns.OBS: pendulum_obs(
        5, torch.Generator().manual_seed(2))}))
    check_exchange_format(module, tmp_path, x, loc)


def check_exchange_format(module, tmp_path, x, loc):
    """The same Box module saved without pickle: a diagonal Gaussian with the module's
    mean and std, its bounds and view, accepted by the learner; a damaged spec refused."""
    import json

    from imm_ray.rl.continuous import SavedGaussianPolicy

    folder = restricted.save(module, tmp_path / "saved", view=VIEW)
    assert sorted(p.name for p in folder.iterdir()) == ["spec.json", "weights.safetensors"]
    saved = restricted.load(folder)
    assert isinstance(saved, SavedGaussianPolicy) and saved.units == "policy"
    assert saved.action_space == module.action_space and repr(saved.view) == repr(VIEW)
    torch.testing.assert_close(saved.mean(x), loc)
    with torch.no_grad():
        log_std = module.forward_inference({Columns.OBS: x})[Columns.ACTION_DIST_INPUTS][:, 1:]
    torch.manual_seed(1)
    draws = saved.sample(x, 4000)
    assert draws.shape == (2, 4000, 1)
    torch.testing.assert_close(draws.mean(1), loc, atol=0.1, rtol=0)
    torch.testing.assert_close(draws.std(1), log_std.exp(), atol=0.05, rtol=0.05)
    lrn = learner(restricted_policy=saved)
    assert torch.isfinite(lrn.imm_term(DEFAULT_MODULE_ID, {Columns.OBS: pendulum_obs(
        5, torch.Generator().manual_seed(2))}))
    spec = json.loads((folder / "spec.json").read_text())
    (folder / "spec.json").write_text(json.dumps({**spec, "action_space": {
        "low": [-2.0, -2.0], "high": [2.0]}}))
    with pytest.raises(ValueError, match="action_space must be"):
        restricted.load(folder)


def test_continuous_evaluation_is_reproducible_and_interpolation_has_both_ends():
    from imm_ray.rl import evaluation as E

    module = learner().module[DEFAULT_MODULE_ID]
    full = E.module_actor(module)
    pbar = E.restricted_actor(angle_policy(), VIEW)
    obs = pendulum_obs(4, torch.Generator().manual_seed(3))
    with torch.no_grad():
        mean = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS][:, :1]
    torch.testing.assert_close(full(obs, True), 2 * mean)  # [-1, 1] -> [-2, 2]
    torch.testing.assert_close(pbar(obs, True), -2 * obs[:, 1:2])  # already env units
    torch.testing.assert_close(E.interpolated_actor(full, pbar, 0.25)(obs, True),
                               0.75 * full(obs, True) + 0.25 * pbar(obs, True))
    runs = [E.evaluate_continuous_episodes(E.interpolated_actor(full, pbar, r), ENV, 2, seed=7,
                                           greedy=False, max_steps=30) for r in (0.5, 0.5)]
    np.testing.assert_array_equal(*runs)
    for r, ends in ((0.0, full), (1.0, pbar)):  # greedy: sampling draws both policies
        np.testing.assert_allclose(
            E.evaluate_continuous_episodes(E.interpolated_actor(full, pbar, r), ENV, 2,
                                           seed=7, max_steps=30),
            E.evaluate_continuous_episodes(ends, ENV, 2, seed=7, max_steps=30), rtol=1e-6)


def test_the_discrete_evaluation_entry_points_dispatch_on_box_actions():
    from imm_ray.rl import evaluation as E

    module = learner().module[DEFAULT_MODULE_ID]
    full, pbar = E.module_policy(module), E.restricted_policy_of(angle_policy(), VIEW)
    assert full.is_actor and pbar.is_actor and E.interpolated(full, pbar, 0.5).is_actor
    np.testing.assert_array_equal(
        E.evaluate_episodes(full, ENV, 2, seed=3, greedy=False, max_steps=20),
        E.evaluate_continuous_episodes(E.module_actor(module), ENV, 2, seed=3, greedy=False,
                                       max_steps=20))


def test_mountain_car_continuous_with_a_deterministic_position_policy():
    """Any Box-action env: MountainCarContinuous with a position-only view and a
    deterministic restricted policy (m draws are m copies of its action)."""
    env = gym.make("MountainCarContinuous-v0")  # obs (position, velocity), force in [-1, 1]
    policy = from_gaussian_module(lambda x: torch.sign(x[:, :1] + 0.5), env.action_space)
    lrn = (IMMPPOConfig().environment("MountainCarContinuous-v0")
           .rl_module(model_config={"fcnet_hiddens": [8]})
           .imm(restricted_view=views.select(0), restricted_policy=policy, induced="pool",
                k=4, samples=2, imm_lambda=0.5)).build_learner(env=env)
    obs = torch.tensor([[-0.9, 0.01], [-0.4, -0.02], [0.3, 0.03]])
    torch.manual_seed(0)
    term = lrn.imm_term(DEFAULT_MODULE_ID, {Columns.OBS: obs})
    term.backward()
    assert torch.isfinite(term) and lrn.restricted_actions(DEFAULT_MODULE_ID, obs[:, :1]).shape \
        == (3, 2, 1)


def test_immpg_refuses_box_actions_naming_its_module():
    """IMMPG (REINFORCE on the population module of the grid experiments) is discrete
    only; Box actions go through IMMPPO. The refusal names the module and the space."""
    from imm_ray.rl import IMMPGConfig

    cfg = (IMMPGConfig().environment(ENV).rl_module(model_config={"fcnet_hiddens": [8]})
           .imm(restricted_view=VIEW, restricted_policy=angle_policy(), induced="pool", k=4,
                imm_lambda=0.5))
    with pytest.raises(ValueError, match=r"PopulationMLPModule needs a Discrete action "
                                         r"space, got Box\(-2.0, 2.0, \(1,\)"):
        cfg.build_learner(env=gym.make(ENV))


class TwoTorques(gym.Env):
    """4-D observations, 2-D actions with unequal bounds [-1, 1] x [-3, 3]."""

    observation_space = gym.spaces.Box(-10.0, 10.0, (4,), np.float32)
    action_space = gym.spaces.Box(np.array([-1.0, -3.0], np.float32),
                                  np.array([1.0, 3.0], np.float32))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, True, {}


def test_multi_dimensional_actions_sum_log_densities_over_dims():
    """The IMM term with 2-D actions equals a slow twin: draws mapped to [-1, 1] per
    dimension with that dimension's bounds, each component's density the product over the
    two dimensions (torch.distributions.Normal), log-mean-exp over k, mean over m."""
    import math

    space = TwoTorques.action_space
    policy = from_gaussian_module(lambda x: (0.1 * x[:, :2], torch.full((len(x), 2), -1.0)),
                                  space, input_shape=(2,))
    cfg = (IMMPPOConfig().environment(TwoTorques)
           .rl_module(model_config={"fcnet_hiddens": [8]})
           .imm(restricted_view=views.select(0, 1), restricted_policy=policy, induced="pool",
                k=3, samples=5, imm_lambda=0.5))
    lrn = cfg.build_learner(env=TwoTorques())
    module = lrn.module[DEFAULT_MODULE_ID]
    obs = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(3)
    term = lrn.imm_term(DEFAULT_MODULE_ID, {Columns.OBS: obs})
    torch.manual_seed(3)  # the same pool draws, then the same restricted draws
    idx, noise = torch.randint(4, (4, 3)), torch.randn(4, 5, 2)
    low, high = torch.as_tensor(space.low), torch.as_tensor(space.high)
    rows = []
    for b in range(4):
        spliced = obs[idx[b]].clone()
        spliced[:, :2] = obs[b, :2]
        env_units = 0.1 * obs[b, :2] + math.exp(-1.0) * noise[b]  # [m, 2]
        actions = (env_units - low) * 2 / (high - low) - 1
        with torch.no_grad():
            out = module.forward_train({Columns.OBS: spliced})[Columns.ACTION_DIST_INPUTS]
        mean, std = out[:, :2], out[:, 2:].exp()  # [k, 2] each
        logp = torch.distributions.Normal(mean[:, None], std[:, None]).log_prob(
            actions[None]).sum(-1)  # [k, m]
        rows.append(-(torch.logsumexp(logp, 0) - math.log(3)).mean())
    assert term.item() == pytest.approx(torch.stack(rows).mean().item(), rel=1e-5)
