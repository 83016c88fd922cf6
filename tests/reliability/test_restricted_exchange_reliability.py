"""Restricted policies are shared without pickle (issue 22): ``restricted.save`` / ``load``
(safetensors + JSON), an RLlib checkpoint is unpickled only behind ``trust_pickle=True``
(``--trust-pickle``), a damaged saved policy is a ValueError naming its path, and every
restricted policy is evaluated against a uniform-random one before step 2."""

import json
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import gymnasium as gym
import pytest
import torch

from imm_ray.experiments.rl_restricted_view.steps import check_strength, check_sweep, own_returns
from imm_ray.experiments.rl_restricted_view.trainable import ViewTrialConfig
from imm_ray.rl import restricted, views

SWEEP = {"methods": ("none", "imm"), "seeds": 1, "restricted_iterations": 3,
         "restricted_early": 1}
SCRIPT = Path(__file__).resolve().parents[2] / "sweeps" / "rl_restricted_view.py"


class Payload:
    """Unpickling this creates ``path`` (a stand-in for arbitrary code)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def crafted_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    ckpt, marker = tmp_path / "shared_policy", tmp_path / "PWNED"
    ckpt.mkdir()
    for name in ("class_and_ctor_args.pkl", "module_state.pkl"):
        (ckpt / name).write_bytes(pickle.dumps(Payload(marker)))
    return ckpt, marker


def test_a_crafted_rllib_checkpoint_is_not_unpickled_without_trust(tmp_path):
    ckpt, marker = crafted_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="trust_pickle=True"):
        restricted.from_checkpoint(ckpt).probs(torch.zeros(1, 2))
    with pytest.raises(ValueError, match="--trust-pickle"):
        check_sweep(ViewTrialConfig(), restricted_checkpoint=str(ckpt), **SWEEP)
    with pytest.raises(ValueError, match="not a folder restricted.save wrote"):
        restricted.load(ckpt)
    assert not marker.exists()


def ppo_module(hidden=(8, 8)):
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import (
        DefaultPPOTorchRLModule,
    )

    torch.manual_seed(0)
    return DefaultPPOTorchRLModule(observation_space=gym.spaces.Box(-5, 5, (2,)),
                                   action_space=gym.spaces.Discrete(2),
                                   model_config={"fcnet_hiddens": list(hidden)})


def test_save_and_load_round_trip_an_rlmodule_without_pickle(tmp_path):
    from ray.rllib.core.columns import Columns

    module = ppo_module()
    folder = restricted.save(module, tmp_path / "pole", view=views.select(2, 3))
    assert sorted(p.name for p in folder.iterdir()) == ["spec.json", "weights.safetensors"]
    spec = json.loads((folder / "spec.json").read_text())
    assert spec["view"] == {"select": [2, 3]} and spec["num_actions"] == 2
    assert spec["input_shape"] == [2] and spec["layers"][0] == {"linear": [2, 8]}
    policy = restricted.load(folder)
    x = torch.randn(16, 2)
    want = torch.softmax(module.forward_inference({Columns.OBS: x})[
        Columns.ACTION_DIST_INPUTS], -1)
    assert torch.allclose(policy.probs(x), want, atol=1e-6)
    assert repr(policy.view) == "select(2, 3)" and policy.input_shape == (2,)
    cartpole = gym.make("CartPole-v1")
    restricted.check_restricted_setup(policy, policy.view, cartpole.observation_space,
                                      cartpole.action_space)
    again = restricted.load(restricted.save(policy, tmp_path / "copy"))  # a loaded one saves
    assert torch.equal(again.probs(x), policy.probs(x)) and repr(again.view) == "select(2, 3)"


def test_a_damaged_saved_policy_is_a_value_error_naming_it(tmp_path):
    folder = restricted.save(ppo_module(), tmp_path / "p")
    weights = (folder / "weights.safetensors").read_bytes()
    (folder / "weights.safetensors").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(ValueError, match=r"restricted policy '.*p': weights.safetensors is "
                                         "truncated"):
        restricted.load(folder)
    folder = restricted.save(ppo_module(), tmp_path / "q")
    spec = json.loads((folder / "spec.json").read_text())
    (folder / "spec.json").write_text(json.dumps({**spec, "num_actions": 3}))
    with pytest.raises(ValueError, match=r"gives 2 outputs, not 3 \(num_actions 3\)"):
        restricted.load(folder)
    (folder / "spec.json").write_text(json.dumps({**spec, "layers": spec["layers"][:-1] + [
        {"linear": [8, 2]}, {"activation": "os.system"}]}))
    with pytest.raises(ValueError, match="unknown layer"):
        restricted.load(folder)
    (folder / "spec.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        restricted.load(folder)


def uniform_policy(tmp_path) -> Path:
    net = torch.nn.Sequential(torch.nn.Linear(2, 2))
    torch.nn.init.zeros_(net[0].weight), torch.nn.init.zeros_(net[0].bias)
    return restricted.save(restricted.from_module(net, 2, (2,), outputs="logits"),
                           tmp_path / "uniform", view=views.select(2, 3))


def test_a_restricted_policy_no_better_than_random_stops_the_sweep(tmp_path):
    trial = replace(ViewTrialConfig(), eval_episodes=2)
    found = {"given": {"iteration": 0,
                       **own_returns(restricted.load(uniform_policy(tmp_path)), trial)}}
    assert found["given"]["random_return"] > 0
    with pytest.raises(ValueError, match=r"restricted policy given is no better than a "
                                         r"uniform-random policy .*--allow-weak-restricted"):
        check_strength(found, allow_weak=False)
    check_strength(found, allow_weak=True)
    good = {"late": {**found["given"], "greedy_return": found["given"]["random_return"] + 1}}
    check_strength(good, allow_weak=False)


@pytest.mark.slow
def test_the_sweep_evaluates_a_supplied_policy_and_stops_before_step_2(tmp_path):
    path = uniform_policy(tmp_path)
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--storage-path", str(tmp_path / "runs"),
         "--restricted-checkpoint", str(path), "--name", "weak",
         "--no-allow-weak-restricted"],  # --quick allows weak policies; this turns it off
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr[-2000:]
    assert "restricted policy given (supplied): own return" in run.stdout
    assert "error: restricted policy given is no better than a uniform-random" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.slow
def test_resume_with_a_truncated_restricted_policy_is_an_error_line_exit_2(tmp_path):
    path = uniform_policy(tmp_path)
    argv = [sys.executable, str(SCRIPT), "--storage-path", str(tmp_path / "runs"),
            "--name", "cut"]
    first = subprocess.run([*argv, "--quick", "--seeds", "1", "--methods", "imm",
                            "--budgets", "1", "--restricted-checkpoint", str(path)],
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    weights = path / "weights.safetensors"  # truncated: a full disk, a partial copy
    weights.write_bytes(weights.read_bytes()[:40])
    again = subprocess.run([*argv, "--resume"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 2, again.stderr[-2000:]
    assert "resume: with the original settings" in again.stdout
    assert "error: --restricted-checkpoint: restricted policy" in again.stderr
    assert "weights.safetensors is truncated or not a safetensors file" in again.stderr
    assert "Traceback" not in again.stderr, again.stderr[-2000:]


def test_a_damaged_step_1_policy_is_named_as_the_runs_own_with_what_to_do(tmp_path):
    from imm_ray.experiments.rl_restricted_view.trainable import check_trial

    path = uniform_policy(tmp_path)
    trial = replace(ViewTrialConfig(), method="imm", restricted="late",
                    restricted_paths=(f"late={path}",))
    check_trial(trial)  # intact: passes
    weights = path / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:40])
    with pytest.raises(ValueError, match=r"^step 1's saved policy late: restricted policy "
                                         r"'.*uniform': weights.safetensors is truncated.*"
                                         r"start a new run \(without --resume\)"):
        check_trial(trial)
    with pytest.raises(ValueError, match=r"^--restricted-checkpoint: restricted policy"):
        check_trial(replace(trial, restricted="given", restricted_paths=(f"given={path}",)))
