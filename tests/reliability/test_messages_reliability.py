"""Messages that say what is wrong (issue 22): an integral float is an integer, --quick
with another --preset is refused, a file given as --data-dir is called a file, a PPO
minibatch larger than the train batch is named before RLlib's own advice, and a report
with no none runs says so instead of blaming the seed count."""

from dataclasses import replace

import pandas as pd
import pytest
import torch

from imm_ray import checks, core
from imm_ray.experiments.lm_ptb.sweep_args import parse_args
from imm_ray.experiments.rl_restricted_view import report as view_report
from imm_ray.experiments.rl_restricted_view.trainable import ViewTrialConfig, check_trial
from imm_ray.lm.data import split_files


def test_an_integral_float_is_an_integer():
    assert checks.as_real(2.0, "chunk_size", integer=True) == 2
    assert type(checks.as_real(2.0, "chunk_size", integer=True)) is int
    with pytest.raises(ValueError, match=r"chunk_size must be an integer \(an int, numpy "
                                         r"integer, 0-d tensor, or a float with no fractional "
                                         r"part\), got float 2.5"):
        checks.as_real(2.5, "chunk_size", integer=True)
    model = torch.nn.Linear(3, 4).double()
    samples = torch.randn(2, 5, 3, dtype=torch.float64)
    pbar = torch.softmax(torch.randn(2, 4, dtype=torch.float64), -1)
    core.serialized_imm_backward(model, samples, pbar, 2.0)  # no error


def test_quick_with_another_preset_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args("lm", ["--quick", "--preset", "paper", "--storage-path", str(tmp_path)])
    assert exc.value.code == 2
    assert "--quick is the preset 'quick'; it cannot be combined with --preset paper" in \
        capsys.readouterr().err


def test_a_file_as_data_dir_is_called_a_file(tmp_path):
    (tmp_path / "ptb.txt").write_text("a b c\n")
    with pytest.raises(FileNotFoundError, match="is a file, not a folder"):
        split_files(tmp_path / "ptb.txt")


def test_a_minibatch_larger_than_the_train_batch_is_named():
    with pytest.raises(ValueError, match=r"--minibatch \(512\) must be at most --train-batch "
                                         r"\(256\)"):
        check_trial(replace(ViewTrialConfig(), minibatch=512, train_batch=256))


def test_interpolate_alone_says_none_is_missing_not_seeds():
    rows = pd.DataFrame({"config": ["interpolate:late"] * 4, "iterations": [1, 1, 2, 2],
                         "seed": [0, 1, 0, 1], "mean_return": [1.0, 2.0, 3.0, 4.0],
                         "greedy_return": [1.0, 2.0, 3.0, 4.0]})
    text = view_report.summary_text(rows, {})
    assert "the none runs are not in --methods" in text
    assert "fewer than 2 seeds" not in text
