"""The IMM learner extension: its term equals imm_ray.core.imm_loss on hand-built batches
(one policy, and a population of independent members), the population module's members
are independent, model_config reaches the module, and bad configurations fail at build
or validation time with clear messages."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns

import imm_ray.rl  # noqa: F401  (registers the env and algorithms)
from imm_ray.core import imm_loss
from imm_ray.experiments.rl_gridworld import GridIMMPGConfig, GridIMMPPOConfig
from imm_ray.experiments.rl_gridworld.presets import grid_population_config
from imm_ray.rl import IMMPGConfig, IMMPPOConfig
from imm_ray.rl.learner import LOSS_IMM, LOSS_MAIN

COLUMN_STATES = torch.arange(121).view(11, 11).T  # [x, y] -> state y * 11 + x


def pbar(kind="argmax"):
    from imm_ray.experiments.rl_gridworld.plugin import grid_restricted_policy

    return grid_restricted_policy(kind).table


def single_learner(lam=0.5, kind="argmax"):
    cfg = IMMPGConfig().environment("MountainGrid-v0").imm(restricted_policy=kind,
                                                          imm_lambda=lam)
    return cfg.build_learner(env=gym.make("MountainGrid-v0"))


def test_imm_term_equals_core_imm_loss_single_policy():
    learner = single_learner(kind={"kind": "softmax", "temperature": 1.0})
    module = learner.module[DEFAULT_MODULE_ID]
    states = torch.tensor([0, 5, 60, 60, 120, 33])
    term = learner.imm_term(DEFAULT_MODULE_ID, {Columns.OBS: states})
    # slow twin: the policy's logits in each of the 11 states of the observed column
    rows = []
    for s in states.tolist():
        col = COLUMN_STATES[s % 11]
        logits = module.forward_train({Columns.OBS: col})[Columns.ACTION_DIST_INPUTS]
        rows.append(imm_loss(logits[None], pbar({"kind": "softmax",
                                                 "temperature": 1.0})[s % 11][None]))
    assert term.item() == pytest.approx(torch.stack(rows).mean().item(), rel=1e-6)


def test_imm_term_of_a_population_sums_member_means():
    members = 3
    cfg = grid_population_config(members, restricted_policy="argmax", imm_lambda=0.5)
    env = gym.make_vec("MountainGrid-v0", num_envs=members,
                       vectorization_mode="vector_entry_point", tag_members=True)
    learner = cfg.build_learner(env=env)
    module = learner.module[DEFAULT_MODULE_ID]
    obs = torch.tensor([[0, 7], [0, 60], [1, 3], [2, 100], [2, 8], [2, 60]])
    term = learner.imm_term(DEFAULT_MODULE_ID, {Columns.OBS: obs})
    expected = 0.0
    for m in range(members):
        mine = obs[obs[:, 0] == m, 1]
        losses = []
        for s in mine.tolist():
            ext = torch.stack([torch.full((11,), m), COLUMN_STATES[s % 11]], dim=-1)
            logits = module.forward_train({Columns.OBS: ext})[Columns.ACTION_DIST_INPUTS]
            losses.append(imm_loss(logits[None], pbar()[s % 11][None]))
        expected += torch.stack(losses).mean()
    assert term.item() == pytest.approx(expected.item(), rel=1e-6)


def test_loss_adds_lambda_times_the_imm_term_and_logs_both():
    learner = single_learner(lam=0.5)
    module = learner.module[DEFAULT_MODULE_ID]
    batch = {Columns.OBS: torch.tensor([1, 2, 3, 70]), Columns.ACTIONS: torch.tensor([0, 1, 2, 3]),
             Columns.RETURNS_TO_GO: torch.tensor([1.0, 0.5, 0.0, 2.0])}
    fwd = module.forward_train(batch)
    total = learner.compute_loss_for_module(module_id=DEFAULT_MODULE_ID, config=learner.config,
                                            batch=batch, fwd_out=fwd)
    logp = torch.log_softmax(fwd[Columns.ACTION_DIST_INPUTS], -1)[torch.arange(4), batch[
        Columns.ACTIONS]]
    main = -(logp * batch[Columns.RETURNS_TO_GO]).mean()
    imm = learner.imm_term(DEFAULT_MODULE_ID, batch)
    assert total.item() == pytest.approx((main + 0.5 * imm).item(), rel=1e-6)
    logged = learner.metrics.reduce()[DEFAULT_MODULE_ID]
    assert float(logged[LOSS_MAIN]) == pytest.approx(main.item(), rel=1e-5)
    assert float(logged[LOSS_IMM]) == pytest.approx(imm.item(), rel=1e-5)


def test_every_adds_the_term_on_every_jth_update_only():
    cfg = IMMPGConfig().environment("MountainGrid-v0").imm(restricted_policy="argmax",
                                                          imm_lambda=0.5, every=3)
    learner = cfg.build_learner(env=gym.make("MountainGrid-v0"))
    module = learner.module[DEFAULT_MODULE_ID]
    batch = {Columns.OBS: torch.tensor([1, 2, 3, 70]), Columns.ACTIONS: torch.tensor([0, 1, 2, 3]),
             Columns.RETURNS_TO_GO: torch.tensor([1.0, 0.5, 0.0, 2.0])}
    fwd = module.forward_train(batch)
    totals = [learner.compute_loss_for_module(module_id=DEFAULT_MODULE_ID,
                                              config=learner.config, batch=batch,
                                              fwd_out=fwd).item() for _ in range(7)]
    logp = torch.log_softmax(fwd[Columns.ACTION_DIST_INPUTS], -1)[torch.arange(4), batch[
        Columns.ACTIONS]]
    main = -(logp * batch[Columns.RETURNS_TO_GO]).mean().item()
    with_imm = main + 0.5 * learner.imm_term(DEFAULT_MODULE_ID, batch).item()
    expected = [with_imm if u % 3 == 0 else main for u in range(7)]
    assert totals == pytest.approx(expected, rel=1e-6)
    assert with_imm != pytest.approx(main)


def test_population_members_are_independent():
    cfg = grid_population_config(4)
    env = gym.make_vec("MountainGrid-v0", num_envs=4, vectorization_mode="vector_entry_point",
                       tag_members=True)
    module = cfg.build_learner(env=env).module[DEFAULT_MODULE_ID]
    obs = torch.tensor([[1, s] for s in range(121)])
    direct = module.pi(obs[:8, 0], obs[:8, 1], "tagged")  # small batch: row gather
    table = module.pi(obs[:, 0], obs[:, 1], "tagged")[:8]  # big batch: table path
    assert torch.allclose(direct, table, atol=1e-6)
    out = module.forward_train({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    out.sum().backward()
    grads = module.pi.w1.grad.abs().sum(dim=(1, 2))
    assert grads[1] > 0 and grads[[0, 2, 3]].eq(0).all()
    assert not torch.allclose(module.pi.w1[0], module.pi.w1[1])  # independent inits


class ThreeActions:
    num_classes = 3

    def probs(self, contexts):
        return torch.full((*contexts.shape, 3), 1 / 3)


@pytest.mark.parametrize("imm,message", [
    (dict(restricted_policy=ThreeActions(), imm_lambda=0.1),
     "restricted policy has 3 actions but the environment's action space has 4"),
    (dict(restricted_policy="greedy", imm_lambda=0.1),
     "unknown restricted-policy kind 'greedy'; allowed kinds: argmax, softmax"),
    (dict(restricted_policy={"kind": "softmax", "temp": 1}, imm_lambda=0.1),
     "unknown restricted-policy settings"),
    (dict(imm_lambda=0.1), "needs restricted_policy"),
    (dict(restricted_policy="argmax", imm_lambda="reference_rl"), "set config.imm"),
])
@pytest.mark.parametrize("config_class", [IMMPGConfig, IMMPPOConfig])
def test_bad_configuration_fails_at_build_time(config_class, imm, message, ray_local):
    cfg = config_class().environment("MountainGrid-v0").env_runners(num_env_runners=0)
    cfg.imm(**imm)
    with pytest.raises(ValueError, match=message):
        algo = cfg.build_algo()
        algo.stop()


@pytest.mark.parametrize("imm,message", [
    (dict(imm_lambda=-0.5), "imm_lambda must be a finite number >= 0"),
    (dict(imm_lambda=-1), "imm_lambda must be a finite number >= 0"),  # RLlib's -1 marker
    (dict(interpolate_ratio=1.5), r"interpolate_ratio must be in \[0, 1\]"),
    (dict(imm_lambda="linear"), "unknown schedule preset 'linear'"),
    (dict(every=0), "every must be an integer >= 1, got 0"),
    (dict(every=-1), "every must be an integer >= 1, got -1"),  # RLlib's -1 marker
    (dict(every=2.5), "every"),
])
@pytest.mark.parametrize("config_class", [IMMPGConfig, IMMPPOConfig])
def test_bad_values_fail_when_set(config_class, imm, message):
    with pytest.raises(ValueError, match=message):
        config_class().environment("MountainGrid-v0").imm(**imm)


@pytest.mark.parametrize("config_class", [IMMPGConfig, IMMPPOConfig])
def test_model_config_hidden_sets_the_module_width(config_class):
    """``.rl_module(model_config={"hidden": 8})`` (what presets and the sweep's --hidden
    set) reaches the module; PPO still gets its value head, of the same width."""
    if config_class is IMMPGConfig:
        cfg = grid_population_config(2, hidden=8)
        env = gym.make_vec("MountainGrid-v0", num_envs=2,
                           vectorization_mode="vector_entry_point", tag_members=True)
    else:
        cfg = IMMPPOConfig().environment("MountainGrid-v0").rl_module(model_config={"hidden": 8})
        env = gym.make("MountainGrid-v0")
    module = cfg.build_learner(env=env).module[DEFAULT_MODULE_ID]
    assert module.pi.w1.shape[-1] == 8  # W1 [members, 121, hidden]
    if config_class is IMMPPOConfig:
        assert module.vf is not None and module.vf.w1.shape[-1] == 8
    default = config_class().environment("MountainGrid-v0")
    module = default.build_learner(env=gym.make("MountainGrid-v0")).module[DEFAULT_MODULE_ID]
    assert module.pi.w1.shape == (1, 121, 32)  # DEFAULT_MODEL_CONFIG
    assert (module.vf is not None) == (config_class is IMMPPOConfig)


@pytest.mark.parametrize("setting,message", [
    (dict(num_rollouts=0), "grid_eval_rollouts must be an integer >= 1, got 0"),
    (dict(rollout_length=0), "grid_eval_length must be an integer >= 1, got 0"),
    (dict(interval=-1), "grid_eval_interval must be an integer >= 0, got -1"),
    (dict(num_rollouts=-1), "grid_eval_rollouts must be an integer >= 1, got -1"),
    (dict(num_rollouts=2.5), "grid_eval_rollouts must be an integer, got float 2.5"),
])
@pytest.mark.parametrize("config_class", [GridIMMPGConfig, GridIMMPPOConfig])
def test_bad_grid_evaluation_settings_fail_when_set_and_validated(config_class, setting,
                                                                  message):
    with pytest.raises(ValueError, match=message):
        config_class().environment("MountainGrid-v0").grid_evaluation(**setting)
    cfg = config_class().environment("MountainGrid-v0")
    attr = {"num_rollouts": "grid_eval_rollouts", "rollout_length": "grid_eval_length",
            "interval": "grid_eval_interval"}[next(iter(setting))]
    setattr(cfg, attr, next(iter(setting.values())))  # as Tune's from_dict would
    with pytest.raises(ValueError, match=message):
        cfg.validate()


def test_evaluation_of_no_rollouts_or_steps_is_an_error_not_nan():
    from imm_ray.experiments.rl_gridworld.evaluation import evaluate_policy_table, grid_tables

    probs, (nxt, rew) = torch.full((2, 121, 4), 0.25), grid_tables({})
    assert evaluate_policy_table(probs, nxt, rew, 1, 1).isfinite().all()
    for kwargs, name in ((dict(num_rollouts=0), "num_rollouts"),
                         (dict(rollout_length=0), "rollout_length")):
        with pytest.raises(ValueError, match=f"{name} must be >= 1, got 0"):
            evaluate_policy_table(probs, nxt, rew, **kwargs)


def test_policy_kinds_need_the_grid_env():
    cfg = IMMPGConfig().environment("CartPole-v1").imm(restricted_policy="argmax",
                                                      imm_lambda=0.1)
    with pytest.raises(ValueError, match=r"only an environment plug-in builds \(registered: "
                                         r"\['MountainGrid-v0'\]\)"):
        cfg.validate()


def test_schedule_lambda_follows_the_dataset_size():
    cfg = IMMPGConfig().environment("MountainGrid-v0").imm(
        restricted_policy="argmax", imm_lambda="reference_rl", dataset_size=50)
    assert cfg.imm_lambda_value() == pytest.approx(0.25)  # r = 0.2 at 50 epochs
    assert cfg.imm(dataset_size=400).imm_lambda_value() == pytest.approx(1 / 9)


def test_interpolated_table_mixes_with_the_restricted_policy():
    from imm_ray.experiments.rl_gridworld.evaluation import interpolated_table
    from imm_ray.experiments.rl_gridworld.plugin import grid_extension, grid_restricted_policy

    q = torch.softmax(torch.randn(2, 121, 4), -1)
    policy, ext = grid_restricted_policy("argmax"), grid_extension()
    mixed = interpolated_table(q, policy, ext, 0.25)
    assert torch.allclose(mixed, 0.75 * q + 0.25 * policy.table[torch.arange(121) % 11])
    assert np.allclose(mixed.sum(-1), 1)


def test_any_discrete_env_with_a_tabular_restricted_view(ray_local):
    """FrozenLake 4x4, restricted view = the column: objects instead of grid presets."""
    from imm_ray.restricted.pomdp import TabularPolicy
    from imm_ray.rl.induced import EnumeratedEstimator
    from imm_ray.samplers import EnumeratedConditional

    columns = torch.arange(16).view(4, 4).T  # column x -> its 4 states
    estimator = EnumeratedEstimator(np.arange(16) % 4, EnumeratedConditional(columns))
    restricted = TabularPolicy(np.full((4, 4), 0.25))
    cfg = (IMMPGConfig().environment("FrozenLake-v1", env_config={"is_slippery": False})
           .training(steps_per_epoch=20)
           .imm(restricted_policy=restricted, induced=estimator, imm_lambda=0.5))
    algo = cfg.build_algo()
    learner = algo.train()["learners"]["default_policy"]
    assert learner["loss/imm"] > 0
    algo.stop()
