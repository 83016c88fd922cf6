"""LM hardening (issue 15): every bad value stops the sweep before Ray starts naming the
field, repeated grid values are refused, a crafted checkpoint cannot run code, a BOM is no
word, a truncated cache is rebuilt, a GPU that is not there fails loudly, and failed trials
are reported with their real message and a non-zero exit."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from imm_ray.experiments.lm_ptb.report import error_message
from imm_ray.experiments.lm_ptb.sweep_args import parse_args
from imm_ray.lm import data as lmdata
from imm_ray.lm.config import LMConfig
from imm_ray.lm.trainer import CHECKPOINT_FILE, LMTrainer, load_checkpoint, resolve_device

REPO = Path(__file__).resolve().parents[2]


def write_corpus(root: Path, train=" a b c a \n b c a b \n c a b c \n",
                 held_out=" a b \n c a \n") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for s in lmdata.SPLITS:
        (root / f"ptb.{s}.txt").write_text(train if s == "train" else held_out)
    return root


@pytest.mark.parametrize("argv,message", [
    (["--emb-size", "0"], "--emb-size: emb_size must be >= 1"),
    (["--num-layers", "0"], "--num-layers: num_layers must be >= 1"),
    (["--models", "transformer", "--emb-size", "30", "--num-heads", "4"],
     r"num_heads \(4\) must divide emb_size \(30\)"),
    (["--lr", "nan"], "lr must be finite"),
    (["--lr", "inf"], "lr must be finite"),
    (["--imm-lambdas", "nan"], "--imm-lambdas: imm_lambda must be finite"),
    (["--imm-lambdas", "-1"], "imm_lambda must be finite and in"),
    (["--imm-start-ppl", "nan"], "imm_start_ppl must be finite"),
    (["--imm-lambda-schedule", "no_such"], "imm_lambda_schedule 'no_such'"),
    (["--imm-lambda-schedule", '{"slope": 0, "intercept": -Infinity}'], "imm_lambda_schedule"),
    (["--device", "cuda"], "--device cuda needs --gpus-per-trial > 0"),
    (["--device", "cpu", "--gpus-per-trial", "1"], "--device cpu with --gpus-per-trial"),
    (["--seed-values", "0", "0"], "--seed-values must not repeat a value"),
    (["--seeds", "0"], r"--seeds must be an integer"),
    (["--seeds", "2", "--seed-values", "3", "4"], "pass one of the two"),
    (["--methods", "none", "none"], "--methods must not repeat a value"),
    (["--train-fractions", "0.1", "0.1"], "--train-fractions must not repeat"),
    (["--methods", "kd"], "argument --methods: invalid choice: .kd."),
    (["--train-fractions", "0"], "train_fraction must be finite and in"),
    (["--restricted-data", "half"], "argument --restricted-data: invalid choice: .half."),
    (["--imm-lambdas", "0.1", "0.2"], "--imm-lambdas with several values runs identical"),
    (["--ks", "2", "4", "--methods", "imm", "reverse_kd"], "--ks with several values"),
    (["--restricted-data", "full", "same", "--methods", "imm", "--train-fractions", "1.0"],
     "identical trials"),
    (["--dropout", "1.0"], r"dropout must be finite and in \[0, 1\)"),
    (["--asha"], "--asha needs a fixed epoch count"),
    (["--preset", "huge"], "--preset must be one of"),
    (["--threads", "-1"], "threads must be >= 0"),
])
def test_bad_trial_values_stop_the_sweep_before_ray(argv, message, tmp_path, capsys):
    import re

    import ray

    data = write_corpus(tmp_path / "data")
    with pytest.raises(SystemExit) as exc:
        parse_args("lm", [*argv, "--data-dir", str(data), "--storage-path",
                          str(tmp_path / "runs")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and re.search(message, err), err
    assert not ray.is_initialized()


def test_missing_data_folder_is_named_before_ray(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse_args("lm", ["--data-dir", str(tmp_path / "nowhere"), "--storage-path",
                          str(tmp_path / "runs")])
    assert str(tmp_path / "nowhere") in capsys.readouterr().err


class _Exploit:
    """Unpickling this runs ``os.system``-like code: it must never be executed."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def test_crafted_pickle_in_a_checkpoint_is_not_executed(tmp_path):
    marker = tmp_path / "executed"
    with open(tmp_path / CHECKPOINT_FILE, "wb") as f:
        pickle.dump({"model": _Exploit(marker)}, f, protocol=2)
    with pytest.raises(ValueError, match="not a plain LM checkpoint"):
        load_checkpoint(tmp_path / CHECKPOINT_FILE)
    assert not marker.exists()
    torch.save({"model": _Exploit(marker)}, tmp_path / "t.pt")  # torch's own format too
    with pytest.raises(ValueError, match=str(tmp_path / "t.pt")):
        load_checkpoint(tmp_path / "t.pt")
    assert not marker.exists()
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load_checkpoint(tmp_path / "nothing.pt")


def test_a_real_checkpoint_loads_with_weights_only(tmp_path):
    data = lmdata.prepare_corpus(write_corpus(tmp_path / "d", " a b c a \n" * 30),
                                 cache_dir=tmp_path / "c")
    cfg = LMConfig(data_path=str(data), emb_size=4, hidden_size=4, batch_size=2, bptt=4,
                   eval_batch_size=1)
    tr = LMTrainer(cfg)
    tr.end_epoch(tr.train_epoch())
    tr.save(tmp_path)
    ck = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert ck["scalars"]["epoch"] == 1
    LMTrainer(cfg).load(tmp_path)


def test_bom_is_not_a_vocabulary_word(tmp_path):
    root = write_corpus(tmp_path / "bom")
    for s in lmdata.SPLITS:
        f = root / f"ptb.{s}.txt"
        f.write_bytes(b"\xef\xbb\xbf" + f.read_bytes())
    corpus = lmdata.load_corpus(lmdata.prepare_corpus(root, cache_dir=tmp_path / "c"))
    assert sorted(corpus.vocab) == ["<eos>", "a", "b", "c"]
    assert not any("\ufeff" in w for w in corpus.vocab)


def test_truncated_cache_is_rebuilt_not_a_bad_zip(tmp_path, capsys):
    root = write_corpus(tmp_path / "d")
    path = lmdata.prepare_corpus(root, cache_dir=tmp_path / "c")
    good = lmdata.load_corpus(path)
    path.write_bytes(path.read_bytes()[:100])  # truncated
    with pytest.raises(ValueError, match="not a prepared corpus"):
        lmdata.load_corpus(path)
    assert lmdata.prepare_corpus(root, cache_dir=tmp_path / "c") == path
    assert "rebuilding the corpus cache" in capsys.readouterr().err
    assert np.array_equal(lmdata.load_corpus(path).train, good.train)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_a_gpu_fails_loudly():
    with pytest.raises(RuntimeError, match="torch sees no CUDA device"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


def test_trial_error_message_is_the_real_exception():
    raw = ("\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=1234, ip=127.0.0.1, actor_id=ab)\n"
           "Traceback (most recent call last):\n  File \"x.py\", line 3, in f\n    g()\n"
           "RuntimeError: device='cuda' but torch sees no CUDA device (torch 2.13)")
    assert error_message(raw) == ("RuntimeError: device='cuda' but torch sees no CUDA "
                                  "device (torch 2.13)")
    assert error_message(ValueError("lr must be finite")) == "lr must be finite"


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_gpu_trials_on_a_ray_without_gpus_fail_before_any_trial(tmp_path):
    """--gpus-per-trial on a Ray without GPUs: no silent CPU fallback and no trial left
    pending forever; the sweep stops before fitting, naming the flag, and exits 2. (Inside
    a trial, device='cuda' without a visible GPU raises: tests/lm/test_lm_cuda.py and the
    trainer's device checks.)"""
    # splits long enough for --quick's batches (checked before Ray since issue 22)
    data = write_corpus(tmp_path / "data", " a b c a \n b c a b \n" * 500,
                        held_out=" a b \n c a \n" * 40)
    cmd = [sys.executable, str(REPO / "sweeps" / "lm_ptb.py"), "--quick", "--models", "lstm",
           "--gpus-per-trial", "0.5", "--max-failures", "0", "--data-dir", str(data),
           "--cache-dir", str(tmp_path / "cache"), "--storage-path", str(tmp_path / "runs")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "--gpus-per-trial 0.5: no node of the Ray cluster can run one trial" in proc.stderr
    assert "results: " not in proc.stdout
