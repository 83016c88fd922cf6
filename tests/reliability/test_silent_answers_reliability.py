"""Issue 22, silent wrong answers: inputs that used to give a plausible result instead of an
error. Each is refused where it enters, naming the flag/argument, before Ray starts; a
sweep in which a trial met a NaN prints no summary."""

from __future__ import annotations

import argparse
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from imm_ray import core
from imm_ray.experiments.lambda_vs_n import cli
from imm_ray.experiments.lm_ptb.sweep_args import parse_args as lm_parse_args
from imm_ray.experiments.rl_gridworld.trainable import plan_sweep
from imm_ray.experiments.rl_restricted_view.trainable import ViewTrialConfig, check_trial
from imm_ray.lm import data as lmdata
from imm_ray.sweep import run as sweep_run
from imm_ray.sweep.flags import check_storage_path
from imm_ray.tabular.config import TabularConfig
from imm_ray.tabular.data import load_table

D = torch.float64


def usage_error(parse, argv) -> str:
    """``parse(argv)``'s argparse error text (exit 2), checking Ray never started."""
    import ray

    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code == 2
    assert not ray.is_initialized()
    return exc


@pytest.mark.parametrize("argv,named", [
    (["--target", "y"], "--target"),
    (["--restricted", "x"], "--restricted"),
    (["--dataset", "", "--target", "y", "--restricted", "x"], "--target and --restricted"),
])
def test_table_flags_without_a_dataset_are_refused(argv, named, tmp_path, capsys):
    usage_error(cli.parse_args, [*argv, "--quick", "--storage-path", str(tmp_path)])
    err = capsys.readouterr().err
    assert f"{named} given without --dataset" in err, err


def test_csv_with_duplicate_column_names_is_refused_naming_them(tmp_path):
    path = tmp_path / "dup.csv"
    rows = "\n".join(f"{i % 3},{i % 5},{i % 2},{i % 7}" for i in range(40))
    path.write_text("dose,age,y,dose\n" + rows + "\n")
    cfg = TabularConfig(dataset=str(path), target="y", restricted=("dose.1",))
    with pytest.raises(ValueError, match=r"duplicate column names \['dose'\]"):
        load_table(str(path), cfg, verbose=False)


def test_a_feature_too_large_to_standardise_is_refused_naming_the_column(tmp_path):
    g = np.random.default_rng(0)
    frame = pd.DataFrame({"x": g.integers(0, 3, 40), "big": g.standard_normal(40),
                          "y": g.integers(0, 2, 40)})
    frame.loc[3, "big"] = 1e300
    cfg = TabularConfig(dataset="t", target="y", restricted=("x",))
    with pytest.raises(ValueError, match=r"column 'big' has a value of magnitude 1e\+300"):
        load_table(frame, cfg, verbose=False)


@pytest.mark.parametrize("path", ["", "   "])
def test_empty_storage_path_is_refused(path):
    with pytest.raises(ValueError, match="--storage-path must be a folder or a storage URI"):
        check_storage_path(path)


def write_corpus(root, train=" a b c a \n b c a b \n c a b c \n"):
    root.mkdir(parents=True, exist_ok=True)
    for s in lmdata.SPLITS:
        (root / f"ptb.{s}.txt").write_text(train if s == "train" else " a b \n c a \n")
    return root


@pytest.mark.parametrize("device", ["tpu", "mps", "CPU"])
def test_lm_device_the_trainer_rejects_is_refused_not_run_on_cpu(device, tmp_path, capsys):
    data = write_corpus(tmp_path / "data")
    usage_error(lambda a: lm_parse_args("lm", a), ["--device", device, "--data-dir", str(data),
                                                   "--storage-path", str(tmp_path / "runs")])
    err = capsys.readouterr().err  # argparse's choices (issue 23) refuse it first
    assert f"argument --device: invalid choice: '{device}'" in err and "'cuda'" in err


def test_nul_byte_anywhere_in_the_corpus_is_refused_with_file_and_line(tmp_path):
    text = " a b c \n" * 20000 + " a b\x00c \n"  # past the first 64 KiB
    data = write_corpus(tmp_path / "data", train=text)
    files = lmdata.split_files(data)
    with pytest.raises(ValueError, match=r"train split .*ptb\.train\.txt' line 20001 has a "
                                         "NUL byte"):
        lmdata.read_lines_local(files)


@pytest.mark.parametrize("which", ["main", "extra"])
def test_mix_losses_refuses_a_nan_input_naming_it(which):
    good, bad = torch.tensor(1.0, dtype=D), torch.tensor(float("nan"), dtype=D)
    args = (bad, good) if which == "main" else (good, bad)
    with pytest.raises(core.NonFiniteLossError, match=f"^{which} is not finite"):
        core.mix_losses(*args, 0.5)


def test_interpolate_refuses_a_ratio_tensor_that_adds_a_batch_dim():
    q = torch.softmax(torch.randn(3, 4, dtype=D), -1)
    p = torch.softmax(torch.randn(3, 4, dtype=D), -1)
    with pytest.raises(ValueError, match=r"ratio has shape \(3, 1, 1\).*without adding dims"):
        core.interpolate(q, p, torch.full((3, 1, 1), 0.5, dtype=D))
    per_row = torch.tensor([[0.0], [0.5], [1.0]], dtype=D)  # [3, 1]: one ratio per row
    torch.testing.assert_close(core.interpolate(q, p, per_row), (1 - per_row) * q + per_row * p)


def test_nan_in_the_data_does_not_advise_lowering_the_learning_rate():
    with pytest.raises(core.NonFiniteLossError) as exc:
        core.imm_loss(torch.randn(2, 3, 4, dtype=D),
                      torch.tensor([[float("nan"), 0.5, 0.5, 0.0]] * 2, dtype=D))
    assert "learning rate" not in str(exc.value) and "restricted_probs" in str(exc.value)


GRID_SWEEP = {"configs": ("none", "imm_argmax"), "epochs": (10,), "schedule": "reference_rl",
              "lambda_search": False, "search_ratios": (0.0, 0.5), "search_epochs": (10,)}


@pytest.mark.parametrize("trial,message", [
    ({"lr": 1e30}, r"--lr must be in \(0, 10\], got 1e\+30"),
    ({"reward_cov": 1e300}, r"--reward-cov 1e\+300 is too large: the reward mountain is flat"),
    ({"pomdp_reward_cov": 1e300}, r"--pomdp-reward-cov 1e\+300 is too large"),
])
def test_grid_sweep_refuses_extreme_values_before_ray(trial, message):
    import ray

    with pytest.raises(ValueError, match=message):
        plan_sweep(**GRID_SWEEP, trial_fields=trial)
    assert not ray.is_initialized()


def test_view_sweep_refuses_an_extreme_learning_rate():
    with pytest.raises(ValueError, match=r"--lr must be a finite number in \(0, 10\]"):
        check_trial(ViewTrialConfig(lr=1e30))


class _Grid(list):
    """The parts of a Tune ``ResultGrid`` that :func:`sweep_run.check_finished` reads."""

    @property
    def num_errors(self):
        return sum(r.error is not None for r in self)

    @property
    def num_terminated(self):
        return sum(r.error is None for r in self)


def test_a_sweep_with_a_non_finite_trial_prints_no_summary(tmp_path, capsys):
    class RayTaskError(Exception):  # Ray's wrapper keeps the trial's exception as .cause
        cause = core.NonFiniteLossError("non-finite metrics {'loss/main': nan}")

    nan = RayTaskError("traceback ...")
    grid = _Grid([SimpleNamespace(error=None, metrics={}, path=str(tmp_path / "t_1")),
                  SimpleNamespace(error=nan, metrics={}, path=str(tmp_path / "t_2"))])
    args = argparse.Namespace(storage_path=str(tmp_path), name="x", resume=False)
    with pytest.raises(SystemExit) as exc:
        sweep_run.check_finished(grid, args)
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert re.search(r"1 trial\(s\) produced a non-finite value.*no summary", err), err
    ok = _Grid([grid[0], SimpleNamespace(error=ValueError("other"), metrics={}, path="t_3")])
    sweep_run.check_finished(ok, args)  # another failure: the rest is still summarised
