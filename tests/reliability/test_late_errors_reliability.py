"""Issue 22, late or raw errors the driver can catch first: each is a ValueError/TypeError
naming the argument (a sweep: ``error: ...``, exit 2) before Ray starts, instead of a raw
traceback or a failure inside every trial."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from reliability_helpers import clean_env

from imm_ray import core
from imm_ray.experiments.lambda_vs_n import cli
from imm_ray.experiments.lm_ptb.sweep_args import parse_args as lm_parse_args
from imm_ray.lm import data as lmdata
from imm_ray.lm.config import LMConfig
from imm_ray.sweep.flags import check_storage_path

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path,message", [
    ("hdfs://namenode/runs", r"cannot open a hdfs:// filesystem on this machine"),
    ("foo://bucket/runs", r"cannot open a foo:// filesystem .*ArrowInvalid"),
    ("/proc/x", r"'/proc/x' is not writable: cannot create a folder in /proc"),
])
def test_storage_paths_that_cannot_work_are_refused_with_the_reason(path, message):
    with pytest.raises(ValueError, match=message):
        check_storage_path(path)


def write_corpus(root: Path, train=" a b c a \n b c a b \n c a b c \n" * 20,
                 valid=" a b \n c a \n" * 20) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for s in lmdata.SPLITS:
        (root / f"ptb.{s}.txt").write_text(train if s == "train" else valid)
    return root


def test_a_cache_dir_that_is_a_file_or_unwritable_is_named(tmp_path):
    data = write_corpus(tmp_path / "data")
    (tmp_path / "afile").write_text("")
    with pytest.raises(ValueError, match=r"token cache folder \(--cache-dir\) .*afile' is a "
                                         "file, not a folder"):
        lmdata.prepare_corpus(data, tmp_path / "afile")
    with pytest.raises(ValueError, match=r"'/proc/x' is not writable"):
        lmdata.prepare_corpus(data, "/proc/x")


def run_lm(*argv, cwd):
    return subprocess.run([sys.executable, str(ROOT / "sweeps" / "lm_ptb.py"), *map(str, argv)],
                          cwd=cwd, env=clean_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=240)


def test_lm_sweep_bad_corpus_and_cache_are_error_lines_exit_2(tmp_path):
    data = write_corpus(tmp_path / "data", valid=" a z \n" * 20)  # 'z' not in train
    out = run_lm("--quick", "--data-dir", data, "--cache-dir", tmp_path / "cache",
                 "--storage-path", tmp_path / "runs", cwd=tmp_path)
    assert out.returncode == 2, out.stdout[-2000:]
    assert "error: valid split line 1: word 'z' is not in the training vocabulary" in \
        out.stdout and "Traceback" not in out.stdout, out.stdout[-2000:]
    (tmp_path / "afile").write_text("")
    out = run_lm("--quick", "--data-dir", write_corpus(tmp_path / "ok"), "--cache-dir",
                 tmp_path / "afile", "--storage-path", tmp_path / "runs", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stdout, out.stdout[-2000:]
    assert "error: the token cache folder (--cache-dir)" in out.stdout


def test_analyze_of_a_folder_that_is_not_an_experiment_is_refused(tmp_path, capsys):
    data = write_corpus(tmp_path / "data")
    (tmp_path / "notexp").mkdir()
    with pytest.raises(SystemExit) as exc:
        lm_parse_args("lm", ["--analyze", str(tmp_path / "notexp"), "--data-dir", str(data),
                             "--storage-path", str(tmp_path / "runs")])
    assert exc.value.code == 2
    assert "--analyze " in capsys.readouterr().err


@pytest.mark.parametrize("fields,message", [
    ({"batch_size": 100_000_000}, r"--batch-size 100000000 .*the training prefix has"),
    ({"eval_batch_size": 100_000_000}, r"--eval-batch-size 100000000: the validation split"),
    ({"train_fraction": 1e-9}, r"--train-fractions 1e-09\): the training prefix has 2 tokens"),
])
def test_batch_sizes_the_corpus_cannot_fill_are_named(fields, message):
    ids = np.arange(1000) % 7
    corpus = lmdata.Corpus([str(i) for i in range(7)], ids, ids[:200], ids[:200])
    lmdata.check_batches(corpus, LMConfig(data_path="x", batch_size=20, eval_batch_size=10))
    with pytest.raises(ValueError, match=message):
        lmdata.check_batches(corpus, LMConfig(**{"data_path": "x", "batch_size": 20,
                                                 "eval_batch_size": 10, **fields}))


def test_toy_weights_without_an_extra_feature_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.parse_args(["--weights", "0", "2", "--quick", "--storage-path", str(tmp_path)])
    assert exc.value.code == 2
    assert "--weights needs at least 3 numbers" in capsys.readouterr().err


def test_meta_tensors_and_python_floats_are_named():
    p = torch.full((2, 4), 0.25)
    with pytest.raises(ValueError, match="sample_logits is on the meta device"):
        core.imm_loss(torch.empty(2, 3, 4, device="meta"), p)
    with pytest.raises(ValueError, match="restricted_probs is on the meta device"):
        core.imm_loss(torch.randn(2, 3, 4), torch.empty(2, 4, device="meta"))
    with pytest.raises(TypeError, match="x must be a tensor, got float 1.0"):
        core.assert_finite(1.0, "x")


@pytest.mark.parametrize("bad,message", [
    (lambda out: out.long(), "forward\\(samples\\) logits must be a floating-point tensor"),
    (lambda out: out.detach(), "forward\\(samples\\) logits do not require grad"),
])
def test_serialized_forward_returning_integer_or_detached_logits_is_named(bad, message):
    lin = torch.nn.Linear(3, 4)
    samples, probs = torch.randn(2, 5, 3), torch.full((2, 4), 0.25)
    with pytest.raises(ValueError, match=message):
        core.serialized_imm_backward(lambda x: bad(lin(x)), samples, probs, 2)
    assert lin.weight.grad is None  # nothing accumulated


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_view_sweep_refuses_an_impossible_trial_before_step_1_trains(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "sweeps" / "rl_restricted_view.py"),
                          "--quick", "--cpus-per-trial", "1000", "--storage-path",
                          str(tmp_path / "runs")], cwd=tmp_path, env=clean_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=240)
    assert out.returncode == 2, out.stdout[-2000:]
    assert "error: --cpus-per-trial 1000 --gpus-per-trial 0: no node" in out.stdout
    assert "step 1:" not in out.stdout, out.stdout[-2000:]


def test_a_k_whose_imm_logits_cannot_fit_in_memory_is_refused_with_gb():
    import psutil

    from imm_ray.experiments.rl_gridworld import GridIMMPGConfig
    from imm_ray.experiments.rl_restricted_view.trainable import ViewTrialConfig, check_trial

    huge = int(psutil.virtual_memory().total)  # k alone > bytes of memory: cannot fit
    with pytest.raises(ValueError, match=r"--k: .* need at least [\d,.]+ GB, more than"):
        check_trial(ViewTrialConfig(k=huge))
    cfg = GridIMMPGConfig().environment("MountainGrid-v0").imm(
        restricted_policy="argmax", k=huge, imm_lambda=1.0)
    with pytest.raises(ValueError, match=r"^k: .* need at least [\d,.]+ GB"):
        cfg.validate()
    GridIMMPGConfig().environment("MountainGrid-v0").imm(
        restricted_policy="argmax", k=64, imm_lambda=1.0).validate()  # a normal k passes


class _TwoActions:
    num_classes = 2

    def probs(self, contexts):
        return torch.full((*contexts.shape[:-1], 2), 0.5)


class _WrongShapes:
    """An estimator by its methods whose extended observations lose the feature dim."""

    def restricted_context(self, obs):
        return obs[:, 2:]

    def __call__(self, obs):
        return obs[:, 2:], obs[:, :1].repeat(1, 3), None  # [B, 3], not [B, k, 4]


@pytest.mark.parametrize("induced,message", [
    (lambda obs: obs, r"induced must be an estimator .*got function"),
    (_WrongShapes(), r"induced estimator must return .*extended \[B=4, k, 4\].*got "
                     r"\(\(4, 2\), \(4, 3\), 'NoneType'\)"),
])
def test_an_induced_callable_that_is_not_an_estimator_fails_at_build_time(induced, message):
    import gymnasium as gym

    from imm_ray.rl import IMMPPOConfig, views

    cfg = IMMPPOConfig().environment("CartPole-v1").env_runners(num_env_runners=0).imm(
        restricted_policy=_TwoActions(), restricted_view=views.select(2, 3), induced=induced,
        imm_lambda=0.1)
    with pytest.raises(ValueError, match=message):
        cfg.build_learner(env=gym.make("CartPole-v1"))


def test_toy_sizes_that_cannot_fit_in_memory_are_refused_with_gb(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.parse_args(["--sizes", "10000000", "--storage-path", str(tmp_path / "runs")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error: --sizes: the cells at n = 10000000 (100 seeds) need at least" in err
    assert " GB, more than this machine's " in err
    assert not (tmp_path / "runs").exists()  # refused before anything was written
    cli.parse_args(["--sizes", "50", "--storage-path", str(tmp_path / "runs")])  # fits


def test_cell_bytes_bounds_the_tensors_a_toy_cell_builds():
    """The estimate is a lower bound on real allocations: each of its terms is a tensor
    the cell holds (quadrature [S, n, nodes] float64, stacked rows, one model's pairs)."""
    from imm_ray.experiments.lambda_vs_n.config import ToyConfig
    from imm_ray.experiments.lambda_vs_n.toy.trainer import cell_data
    from imm_ray.tabular.trainer import cell_bytes

    cfg, n, seeds = ToyConfig(), 40, 3
    data = cell_data(cfg, n, list(range(seeds)))
    held = sum(t.numel() * t.element_size() for t in (
        data.train.features, data.train.y, data.train.restricted_probs))
    p, c = data.train.features.shape[-1], data.train.restricted_probs.shape[-1]
    assert cell_bytes("none", n, seeds, 5, p, c) == held  # one ratio: the rows themselves
    assert cell_bytes("imm", n, seeds, 5, p, c) == 5 * held  # seeds x ratios models
    assert cell_bytes("imm", n, 1, 1, p, c) == 8 * n * n * c  # a model's pair logits
    quad = cfg.problem().restricted(cfg.quadrature_nodes)
    nodes = quad.nodes.numel()
    assert cell_bytes("none", n, seeds, 1, p, c, 2 * nodes) == 2 * 8 * seeds * n * nodes


def test_lm_ks_whose_logits_cannot_fit_are_refused_with_gb(tmp_path):
    data = write_corpus(tmp_path / "data")
    out = run_lm("--quick", "--methods", "imm", "--ks", "1000000000", "--train-fractions", 1,
                 "--batch-size", 4, "--eval-batch-size", 2, "--data-dir", data,
                 "--cache-dir", tmp_path / "cache", "--storage-path", tmp_path / "runs",
                 cwd=tmp_path)
    assert out.returncode == 2, out.stdout[-2000:]
    assert "error: --ks: the logits it sets (lstm, imm) need at least" in out.stdout
    assert " GB, more than this machine's " in out.stdout and "Traceback" not in out.stdout
    assert not (tmp_path / "runs").exists()


def test_lm_logits_bytes_is_the_size_of_the_imm_logits_a_step_builds(tmp_path, monkeypatch):
    from imm_ray.lm import trainer as lm_trainer

    path = lmdata.prepare_corpus(write_corpus(tmp_path / "data"), cache_dir=tmp_path / "c")

    seen = []
    real = core.imm_loss
    monkeypatch.setattr(lm_trainer.core, "imm_loss",
                        lambda logits, probs, **kw: seen.append(logits) or real(logits, probs,
                                                                                 **kw))
    cfg = LMConfig(data_path=str(path), method="imm", emb_size=8, hidden_size=8,
                   batch_size=2, bptt=4, k=3, imm_length=5, imm_contexts=0, optimizer="adam")
    tr = lm_trainer.LMTrainer(cfg)
    tr.train_step(tr.rows[:, :4], tr.rows[:, 1:5], None)
    (logits,) = seen
    # every one of the B * T contexts ends a window in this corpus, so N = B * T
    assert logits.numel() * logits.element_size() == cfg.logits_bytes(tr.vocab_size)["--ks"]
