"""sweeps/lm_ptb.py: flags and grid checked before Ray (--epochs, --asha, --set), and
end-to-end ``--quick`` through Ray Tune on a slice of PTB."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sweep_helpers import assert_rejected_before_ray, load_script

from imm_ray.lm.config import LMConfig
from imm_ray.lm.presets import MODEL_OVERRIDES, PRESETS

REPO = Path(__file__).resolve().parents[2]
PTB_DIR = REPO.parent / "shared" / "data" / "ptb"


@pytest.fixture(scope="module")
def script():
    return load_script("lm_ptb")


def grid(script, tmp_path, *argv):
    """``build_grid`` of parsed flags (no Ray)."""
    return script.build_grid(script.parse_args([*argv, "--storage-path", str(tmp_path)]))


@pytest.mark.parametrize("argv,message", [
    (["--asha"], "--asha needs a fixed epoch count: pass --epochs"),
    (["--asha", "--set", "token_budget=5000"], "--asha needs a fixed epoch count"),
    (["--set", "lr"], "--set lr: expected FIELD=VALUE"),
    (["--set", "learning_rate=0.1"], "--set learning_rate: unknown LMConfig field"),
    (["--set", "tie_weights=maybe"], r"--set tie_weights: expected a bool \(1/true/yes"),
    (["--set", "tie_weights="], "--set tie_weights: expected a bool"),
    (["--set", "epochs=2.5"], "--set epochs: expected an int, got '2.5'"),
    (["--set", "lr=fast"], "--set lr: expected a float, got 'fast'"),
    (["--set", "dropout=1.0"], r"dropout must be in \[0, 1\)"),
    (["--set", "lam=0.3"], "--set lam: a grid axis; use --lams"),
    (["--set", "train_fraction=0.5"], "--set train_fraction: a grid axis; use "
                                      "--train-fractions"),
    (["--set", "noise_gamma=nan"], r"noise_gamma must be in \[0, 1\]"),
    (["--set", "test_tokens=-1"], "test_tokens must be >= 0"),
    (["--lams", "-1"], "lam must be finite and >= 0"),
])
def test_bad_arguments_fail_before_ray_starts(script, argv, message, tmp_path, capsys):
    assert_rejected_before_ray(script, argv, message, tmp_path, capsys)


def test_default_cpu_preset_uses_the_token_budget(script, tmp_path):
    fixed, trials = grid(script, tmp_path)
    assert fixed["token_budget"] == PRESETS["cpu"]["fixed"]["token_budget"] > 0
    assert "epochs" not in fixed and len(trials) == 48


def test_epochs_replace_the_token_budget_and_allow_asha(script, tmp_path):
    fixed, _ = grid(script, tmp_path, "--epochs", "3", "--asha")
    assert fixed["epochs"] == 3 and fixed["token_budget"] == 0
    assert fixed.get("epochs", LMConfig.epochs) == 3  # ASHA's max_t
    fixed, _ = grid(script, tmp_path, "--preset", "gpu", "--asha")  # epochs preset
    assert fixed["epochs"] == PRESETS["gpu"]["fixed"]["epochs"]


@pytest.mark.parametrize("sets,expected", [
    ([], MODEL_OVERRIDES["transformer"]),
    (["lr=0.05"], {"lr": 0.05, "dropout": MODEL_OVERRIDES["transformer"]["dropout"]}),
    (["dropout=0.0", "lr=0.05"], {"lr": 0.05, "dropout": 0.0}),
])
def test_explicit_set_wins_over_per_model_overrides(script, tmp_path, sets, expected):
    argv = ["--models", "transformer", "lstm", "--methods", "none", "--seeds", "0",
            "--train-fractions", "0.1"]
    fixed, trials = grid(script, tmp_path, *argv, *(["--set", *sets] if sets else []))
    by_model = {t["model"]: {**fixed, **t} for t in trials}
    for name, value in expected.items():
        assert by_model["transformer"][name] == value
    lstm_lr = 0.05 if sets else PRESETS["cpu"]["fixed"]["lr"]
    assert by_model["lstm"]["lr"] == lstm_lr


def ptb_slice(root: Path, lines=(3000, 300, 300)) -> Path:
    """The first lines of each PTB split (same format, a much smaller vocabulary)."""
    root.mkdir()
    for split, n in zip(("train", "valid", "test"), lines, strict=True):
        text = (PTB_DIR / f"ptb.{split}.txt").read_text().splitlines(keepends=True)[:n]
        (root / f"ptb.{split}.txt").write_text("".join(text))
    return root


@pytest.mark.slow
def test_quick_sweep_writes_csv_and_plots(tmp_path):
    if not PTB_DIR.is_dir():
        pytest.skip(f"PTB copy not found at {PTB_DIR}")
    data = ptb_slice(tmp_path / "ptb")
    cmd = [sys.executable, str(REPO / "sweeps" / "lm_ptb.py"), "--quick",
           "--storage-path", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"),
           "--data-dir", str(data), "--train-fractions", "0.5"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    csv = Path(next(line for line in lines if line.startswith("results: ")).split(": ", 1)[1])
    plots = [Path(line.split(": ", 1)[1]) for line in lines if line.startswith("plot: ")]
    assert lines[-len(plots) - 1].startswith("results: ")
    df = pd.read_csv(csv)
    for col in ("model", "method", "lambda", "k", "train_fraction", "seed", "valid_ppl",
                "test_ppl"):
        assert col in df.columns
    assert len(df) == 4
    assert set(df.model) == {"lstm", "transformer"} and set(df.method) == {"none", "imm"}
    assert df.test_ppl.notna().all() and (df.test_ppl > 1).all()
    assert (df.error.isna() | (df.error == "")).all()
    assert {p.name for p in plots} == {"valid_vs_epoch.png", "test_vs_train_fraction.png",
                                       "test_vs_k.png"}
    assert all(p.is_file() and p.stat().st_size > 1000 for p in plots)
