"""Hostile-user cases for the RL side and the environments (issue 15): every bad value is
refused where it enters with a message naming it (before RLlib's config round trip can
drop a -1), NumPy / tensor scalars are numbers, gymnasium's env checker passes on every
env and wrapper the project ships, the RL sweeps refuse repeated grid values and values
that would only fail in a trial before Ray starts, and an algorithm built without a
running Ray starts the loopback-only one. Plus shape properties (hypothesis) of the
views and estimators: they work exactly as documented or raise ValueError."""

import subprocess
import sys
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from ppo_batches import ppo_batch

import envs
from imm_ray.experiments.rl_gridworld import GridIMMPGConfig, GridIMMPPOConfig
from imm_ray.experiments.rl_gridworld.trainable import plan_sweep
from imm_ray.experiments.rl_restricted_view.steps import check_sweep
from imm_ray.experiments.rl_restricted_view.trainable import ViewTrialConfig
from imm_ray.rl import IMMPGConfig, IMMPPOConfig, views
from imm_ray.rl.induced import BinnedEstimator, NeighboursEstimator, PoolEstimator

CONFIGS = (IMMPGConfig, IMMPPOConfig)
GRID_CONFIGS = (GridIMMPGConfig, GridIMMPPOConfig)


@pytest.mark.parametrize("config_class", CONFIGS)
@pytest.mark.parametrize("setter,kwargs,name", [
    ("imm", {"imm_lambda": -1}, "imm_lambda"),
    ("imm", {"imm_lambda": -1.0}, "imm_lambda"),
    ("imm", {"interpolate_ratio": -1}, "interpolate_ratio"),
    ("imm", {"dataset_size": -1}, "dataset_size"),
    ("imm", {"k": -1}, "k"),
    ("imm", {"pool_size": -1}, "pool_size"),
    ("imm", {"imm_lambda": float("nan")}, "imm_lambda"),
    ("imm", {"imm_lambda": float("inf")}, "imm_lambda"),
    ("imm", {"interpolate_ratio": float("nan")}, "interpolate_ratio"),
    ("imm", {"imm_lambda": "0.5"}, "schedule preset"),
    ("imm", {"imm_lambda": True}, "imm_lambda"),
])
def test_minus_one_and_other_bad_values_are_refused_when_set(config_class, setter, kwargs,
                                                              name):
    """RLlib's state round trip silently drops values equal to -1 (its deprecated-value
    marker), so a -1 must be refused by the setter, not at build time."""
    with pytest.raises(ValueError, match=name):
        getattr(config_class(), setter)(**kwargs)


@pytest.mark.parametrize("config_class", GRID_CONFIGS)
@pytest.mark.parametrize("kwargs,name", [({"num_rollouts": -1}, "grid_eval_rollouts"),
                                         ({"rollout_length": -1}, "grid_eval_length"),
                                         ({"interval": -1}, "grid_eval_interval")])
def test_minus_one_grid_evaluation_settings_are_refused_when_set(config_class, kwargs, name):
    with pytest.raises(ValueError, match=name):
        config_class().grid_evaluation(**kwargs)


def test_steps_per_epoch_minus_one_is_refused_when_set_and_at_validation():
    with pytest.raises(ValueError, match="steps_per_epoch must be an integer >= 1, got -1"):
        IMMPGConfig().training(steps_per_epoch=-1)
    cfg = IMMPGConfig().environment("MountainGrid-v0")
    cfg.steps_per_epoch = 0  # as a param_space override would set it
    with pytest.raises(ValueError, match="steps_per_epoch must be an integer >= 1, got 0"):
        cfg.validate()


@pytest.mark.parametrize("config_class", CONFIGS)
def test_lr_must_be_finite(config_class):
    cfg = config_class().environment("MountainGrid-v0").training(lr=float("inf"))
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got inf"):
        cfg.validate()


@pytest.mark.parametrize("value", [np.float32(0.25), np.float64(0.25), torch.tensor(0.25),
                                   np.int64(0), torch.tensor(0)])
def test_numpy_and_tensor_scalars_are_accepted_as_numbers(value):
    cfg = GridIMMPGConfig().environment("MountainGrid-v0").imm(
        restricted_policy="argmax", imm_lambda=value, interpolate_ratio=value)
    cfg.grid_evaluation(num_rollouts=np.int64(3), rollout_length=torch.tensor(5))
    cfg.validate()
    assert type(cfg.imm_lambda) is float and cfg.grid_eval_rollouts == 3


@pytest.mark.parametrize("kwargs,message", [
    ({"k": np.float64(2.0)}, "k must be an integer, got float 2.0"),
    ({"imm_lambda": torch.zeros(3)}, r"imm_lambda must be a number, got a tensor of shape "
                                     r"\(3,\)"),
    ({"interpolate_ratio": np.bool_(True)}, "interpolate_ratio must be a number, got bool"),
])
def test_a_scalar_of_the_wrong_kind_names_the_type(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IMMPPOConfig().imm(**kwargs)


ENVS = {
    "MountainGridEnv": lambda: envs.MountainGridEnv(),
    "MountainGrid-v0 (made)": lambda: gym.make("MountainGrid-v0"),
    "ColumnObservation": lambda: envs.ColumnObservation(gym.make("MountainGrid-v0")),
    "RestrictedViewWrapper select": lambda: views.make_view_env("CartPole-v1",
                                                                views.select(2, 3)),
    "RestrictedViewWrapper tabular": lambda: views.RestrictedViewWrapper(
        gym.make("MountainGrid-v0"), views.tabular(np.arange(121) % 11)),
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(ENVS))
def test_gymnasium_env_checker_passes_on_every_env_and_wrapper(name):
    check_env(ENVS[name](), skip_render_check=True)


@pytest.mark.parametrize("start", [121, -1, 2.0, "3", True, np.float64(1)])
def test_start_state_must_be_an_integer_state(start):
    with pytest.raises(ValueError, match=r"options\['start_state'\] must be an integer state "
                                         r"in \[0, 121\)"):
        envs.MountainGridEnv().reset(options={"start_state": start})
    assert envs.MountainGridEnv().reset(options={"start_state": np.int64(120)})[0] == 120


@pytest.mark.parametrize("actions", [np.array([0.0, 1.0]), np.array([0.5, 1]),
                                     np.array([True, False]), np.array([0, 4]),
                                     np.array([0, 1, 2])])
def test_vector_env_refuses_non_integer_or_out_of_range_actions(actions):
    vec = envs.MountainGridVectorEnv(num_envs=2)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must be \[2\] integers in 0..3"):
        vec.step(actions)


@pytest.mark.parametrize("cov,message", [
    ("abc", "reward_cov must be a positive number or a symmetric 2x2 matrix of numbers"),
    (None, "reward_cov must be a positive number"),
    ([[0.1, "x"], [0, 0.1]], "reward_cov must be a positive number"),
    (1e-300, "reward_cov=1e-300 is too small: the reward density overflows"),
    (float("nan"), "reward_cov must be a positive number"),
])
def test_reward_cov_is_named_and_a_tiny_one_refused(cov, message):
    with pytest.raises(ValueError, match=message):
        envs.MountainGridEnv(reward_cov=cov)


GRID_SWEEP = {"configs": ("none", "imm_argmax"), "epochs": (10,), "schedule": "reference_rl",
              "lambda_search": False, "search_ratios": (0.0, 0.5), "search_epochs": (10,)}


@pytest.mark.parametrize("sweep,trial,flag", [
    ({"configs": ("none", "none")}, {}, "--configs"),
    ({"epochs": (10, 10)}, {}, "--epochs"),
    ({"search_ratios": (0.2, 0.2)}, {}, "--search-ratios"),
    ({"search_epochs": (50, 50)}, {}, "--search-epochs"),
    ({}, {"lr": float("inf")}, "--lr"),
    ({}, {"gamma": float("nan")}, "--gamma"),
    ({}, {"eval_rollouts": 0}, "--eval-rollouts"),
])
def test_grid_sweep_refuses_repeats_and_trial_failures_before_ray(sweep, trial, flag):
    import ray

    with pytest.raises(ValueError, match=flag):
        plan_sweep(**{**GRID_SWEEP, **sweep}, trial_fields=trial)
    assert not ray.is_initialized()


@pytest.mark.parametrize("content", ['{"schedule": {"slope": NaN, "intercept": 0.1}}',
                                     '{"schedule": {"slope": 0, "intercept": -Infinity}}',
                                     '{"schedule": {"slope": 0, "intercept": "0.1"}}'])
def test_grid_sweep_refuses_a_schedule_file_of_non_finite_numbers(content, tmp_path):
    path = tmp_path / "s.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=f"--schedule {path}"):
        plan_sweep(**{**GRID_SWEEP, "schedule": str(path)}, trial_fields={})


VIEW_SWEEP = {"methods": ("none", "imm"), "seeds": 2, "restricted_checkpoint": "",
              "restricted_iterations": 3, "restricted_early": 1}


@pytest.mark.parametrize("sweep,trial,flag", [
    ({"methods": ("imm", "imm")}, {}, "--methods"),
    ({}, {"budgets": (5, 10, 5)}, "--budgets"),
    ({}, {"view": (3, 3)}, "--view"),
    ({}, {"lr": float("inf")}, "--lr"),
    ({}, {"imm_lambda": float("nan")}, "--imm-lambda"),
    ({}, {"eval_episodes": 0}, "--eval-episodes"),
    ({"seeds": -1}, {}, "--seeds"),
])
def test_view_sweep_refuses_repeats_and_trial_failures_before_ray(sweep, trial, flag):
    with pytest.raises(ValueError, match=flag):
        check_sweep(replace(ViewTrialConfig(), **trial), **{**VIEW_SWEEP, **sweep})


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_build_algo_without_ray_starts_the_loopback_only_local_ray():
    script = """
import os, ray
from imm_ray.rl import IMMPPOConfig
algo = IMMPPOConfig().environment("CartPole-v1").env_runners(num_env_runners=0).build_algo()
print("NODES", *sorted({n["NodeManagerAddress"] for n in ray.nodes()}))
print("CLUSTER_SWITCH", os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"))
algo.stop()
ray.shutdown()
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=170)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "NODES 127.0.0.1\n" in out.stdout and "CLUSTER_SWITCH 0" in out.stdout


@settings(max_examples=40, deadline=None)
@given(b=st.integers(0, 5), d=st.integers(1, 5), k=st.integers(0, 4),
       idx=st.lists(st.integers(-1, 6), min_size=0, max_size=3),
       kind=st.sampled_from([PoolEstimator, NeighboursEstimator, BinnedEstimator]))
def test_estimators_work_as_documented_or_raise_valueerror(b, d, k, idx, kind):
    try:
        view = views.select(*idx)
        view.space(gym.spaces.Box(-1, 1, (d,)))
        est = kind(view, k=k)
        obs = torch.randn(b, d)
        ctx, ext, w = est(obs)
    except ValueError:
        return
    assert ctx.shape == (b, len(idx)) and w is None
    assert ext.shape == (b, min(k, b) if kind is NeighboursEstimator else k, d)
    assert torch.equal(ext[..., list(idx)], obs[:, None, list(idx)].expand(*ext.shape[:2], -1))


# ---------------------------------------------------------- non-finite values in a trial


def _pole_learner(lr: float = 3e-4):
    from imm_ray.rl import restricted

    def logits(x):  # [B, 2] pole angle and velocity -> [B, 2]
        z = 5 * x[:, 0]
        return torch.stack([-z, z], dim=-1)

    pbar = restricted.from_module(logits, 2, input_shape=(2,), outputs="logits")
    cfg = (IMMPPOConfig().environment("CartPole-v1").training(lr=lr)
           .rl_module(model_config={"fcnet_hiddens": [8]})
           .imm(restricted_view=views.select(2, 3), restricted_policy=pbar, induced="pool",
                k=3, imm_lambda=0.5))
    return cfg.build_learner(env=gym.make("CartPole-v1"))


def _loss(lrn, batch):
    from ray.rllib.core import DEFAULT_MODULE_ID

    module = lrn.module[DEFAULT_MODULE_ID]
    return lrn.compute_loss_for_module(module_id=DEFAULT_MODULE_ID, config=lrn.config,
                                       batch=batch, fwd_out=module.forward_train(batch))


def test_a_nan_observation_fails_the_update_naming_the_data_without_lr_advice():
    from imm_ray.core import NonFiniteLossError

    lrn = _pole_learner()
    module = lrn.module["default_policy"]
    obs = torch.randn(6, 4)
    batch = ppo_batch(module, obs, torch.zeros(6, dtype=torch.long))
    assert torch.isfinite(_loss(lrn, batch))  # finite data: a finite loss
    batch["obs"] = obs.clone().index_fill_(0, torch.tensor([2]), float("nan"))  # Columns.OBS
    with pytest.raises(NonFiniteLossError, match="the batch's observations") as exc:
        _loss(lrn, batch)
    assert "learning rate" not in str(exc.value)


def test_diverged_weights_fail_the_update_with_lr_advice():
    from imm_ray.core import NonFiniteLossError

    lrn = _pole_learner()
    module = lrn.module["default_policy"]
    batch = ppo_batch(module, torch.randn(6, 4), torch.zeros(6, dtype=torch.long))
    with torch.no_grad():  # what an exploding update leaves behind
        for p in module.parameters():
            p.fill_(float("inf"))
    with pytest.raises(NonFiniteLossError, match=r"loss/main is not finite.*lower the "
                                                 r"learning rate"):
        _loss(lrn, batch)


def test_a_nan_gradient_stops_the_update_instead_of_being_zeroed():
    from imm_ray.core import NonFiniteLossError

    lrn = _pole_learner()
    params = dict(lrn._params)  # RLlib's flat param-ref -> tensor map, as it passes them
    grads = {ref: torch.ones_like(p) for ref, p in params.items()}
    out = lrn.postprocess_gradients_for_module(module_id="default_policy",
                                               config=lrn.config, module_gradients_dict=grads)
    assert set(out) == set(grads)  # finite gradients pass through (RLlib's clipping)
    ref = next(iter(grads))
    grads[ref] = grads[ref].clone().fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"1 of \d+ gradient tensors are not finite"):
        lrn.postprocess_gradients_for_module(module_id="default_policy", config=lrn.config,
                                             module_gradients_dict=grads)
