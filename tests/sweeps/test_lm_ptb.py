"""sweeps/lm_ptb.py: flags (LMConfig + LMGrid + options), presets and per-model settings,
every grid point checked before Ray (imm_ray.experiments.lm_ptb.sweep_args), and end-to-end
``--quick``
through Ray Tune on a slice of PTB (in a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from console_budget import assert_quiet_console

from imm_ray.experiments.lm_ptb.config import PRESETS, LMGrid, grid_points, trial_config
from imm_ray.experiments.lm_ptb.sweep_args import parse_args
from imm_ray.lm.data import DATA_DIR_ENV, default_data_dir

REPO = Path(__file__).resolve().parents[2]
PTB_DIR = default_data_dir()


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """Three tiny split files (parse_args checks that the data folder exists)."""
    root = tmp_path / "data"
    root.mkdir()
    for s in ("train", "valid", "test"):
        (root / f"ptb.{s}.txt").write_text(" a b c \n b c a \n")
    return root


def parse(data_dir, tmp_path, *argv):
    """(args, plan) of the flags; plan's attributes also reachable on the returned pair."""
    args, plan = parse_args("lm", [*argv, "--data-dir", str(data_dir), "--storage-path",
                                   str(tmp_path / "runs")])
    args.fixed, args.grid, args.trials = plan.fixed, plan.grid, plan.trials
    return args


def test_default_cpu_preset_uses_the_token_budget(data_dir, tmp_path):
    args = parse(data_dir, tmp_path)
    assert args.preset == "cpu" and args.fixed["token_budget"] == 140_000
    assert len(args.trials) == 48 and args.device == "cpu" and args.threads == 1


@pytest.mark.parametrize("preset,trials", [("cpu-same", 36), ("cpu-full", 4), ("quick", 4),
                                           ("gpu", 48), ("paper", 3)])
def test_presets_expand_to_their_grids(data_dir, tmp_path, preset, trials):
    args = parse(data_dir, tmp_path, "--preset", preset)
    assert len(args.trials) == trials == len(grid_points(args.grid))
    assert {c.method for c in args.trials} == set(PRESETS[preset]["grid"]["methods"])


def test_same_data_preset_fits_the_bigram_on_the_prefix(data_dir, tmp_path):
    args = parse(data_dir, tmp_path, "--preset", "cpu-same")
    assert {c.restricted_data for c in args.trials} == {"same"}
    assert sorted({c.train_fraction for c in args.trials}) == [0.05, 0.1, 0.3]


def test_epochs_replace_the_token_budget_and_allow_asha(data_dir, tmp_path):
    args = parse(data_dir, tmp_path, "--epochs", "3", "--asha")
    assert args.epochs == 3 and args.token_budget == 0
    assert all(c.epochs == 3 and c.token_budget == 0 for c in args.trials)


@pytest.mark.parametrize("argv,expected", [
    ([], {"lr": 3e-3, "dropout": 0.2}),
    (["--lr", "0.05"], {"lr": 0.05, "dropout": 0.2}),
    (["--dropout", "0.0", "--lr", "0.05"], {"lr": 0.05, "dropout": 0.0}),
])
def test_explicit_flag_wins_over_per_model_settings(data_dir, tmp_path, argv, expected):
    args = parse(data_dir, tmp_path, "--models", "transformer", "lstm", "--methods", "none",
                 "--seed-values", "0", "--train-fractions", "0.1", *argv)
    by_model = {c.model: c for c in args.trials}
    for name, value in expected.items():
        assert getattr(by_model["transformer"], name) == value
    assert by_model["lstm"].lr == (0.05 if argv else PRESETS["cpu"]["fixed"]["lr"])


def test_trial_config_applies_the_overrides_of_its_model():
    cfg = trial_config({"model": "transformer", "lr": 0.1,
                        "model_overrides": {"transformer": {"lr": 0.5}, "lstm": {"lr": 9.0}}})
    assert cfg.lr == 0.5 and cfg.model == "transformer"
    assert trial_config({"model": "lstm", "model_overrides": {}}).model == "lstm"


def test_grid_points_cover_the_product_once():
    grid = LMGrid(models=("lstm",), methods=("imm",), imm_lambdas=(0.1, 0.2), ks=(2, 4),
                  train_fractions=(0.5,), seed_values=(0, 1))
    points = grid_points(grid)
    assert len(points) == 8 == len({tuple(sorted(p.items())) for p in points})


def test_gpus_per_trial_makes_trials_use_cuda(data_dir, tmp_path):
    args = parse(data_dir, tmp_path, "--gpus-per-trial", "0.5", "--preset", "cpu-full")
    assert args.device == "cuda" and all(c.device == "cuda" for c in args.trials)


def test_resume_keeps_the_original_preset_and_overrides(data_dir, tmp_path):
    import json

    args = parse(data_dir, tmp_path, "--preset", "cpu-same", "--lr", "0.02", "--name", "x")
    folder = Path(args.storage_path) / "x"
    folder.mkdir(parents=True, exist_ok=True)
    saved = {k: v for k, v in vars(args).items() if k not in ("fixed", "grid", "trials")}
    assert not {"fixed", "grid", "trials"} & set(vars(parse_args(
        "lm", ["--data-dir", str(data_dir), "--storage-path", str(tmp_path / "r")])[0]))
    (folder / "sweep_args.json").write_text(json.dumps(saved, default=str))
    (folder / "tuner.pkl").write_text("")  # Tune started in it
    again = parse(data_dir, tmp_path, "--resume", "--name", "x")
    assert again.preset == "cpu-same" and again.lr == 0.02
    assert len(again.trials) == 36 and again.model_overrides == args.model_overrides


def ptb_slice(root: Path, lines=(3000, 300, 300)) -> Path:
    """The first lines of each PTB split (same format, a much smaller vocabulary)."""
    root.mkdir()
    for split, n in zip(("train", "valid", "test"), lines, strict=True):
        text = (PTB_DIR / f"ptb.{split}.txt").read_text().splitlines(keepends=True)[:n]
        (root / f"ptb.{split}.txt").write_text("".join(text))
    return root


BUDGET_LM = 40
"""Console lines the quiet --quick run may print (the tables of 4 trials and 3 plot lines)."""


@pytest.mark.slow
def test_quick_sweep_writes_csv_rows_and_plots(tmp_path):
    if not PTB_DIR.is_dir():
        pytest.skip(f"PTB not found at {PTB_DIR} (set {DATA_DIR_ENV})")
    from imm_ray import analysis

    data = ptb_slice(tmp_path / "ptb")
    cmd = [sys.executable, str(REPO / "sweeps" / "lm_ptb.py"), "--quick",
           "--storage-path", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"),
           "--data-dir", str(data), "--train-fractions", "0.5", "--restricted-data", "same"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert_quiet_console(proc, budget=BUDGET_LM)
    lines = proc.stdout.strip().splitlines()
    csv = Path(next(line for line in lines if line.startswith("results: ")).split(": ", 1)[1])
    plots = [Path(line.split(": ", 1)[1]) for line in lines if line.startswith("plot: ")]
    assert lines[-len(plots) - 1].startswith("results: ")
    df = pd.read_csv(csv)
    assert len(df) == 4 and set(df.model) == {"lstm", "transformer"}
    assert set(df.method) == {"none", "imm"} and set(df.restricted_data) == {"same"}
    assert df.test_ppl.notna().all() and (df.test_ppl > 1).all()
    assert set(df.imm_lambda) == {0.5} and "lambda" not in df
    rows = analysis.load_rows(csv.parent)  # string columns survive the round trip
    assert pd.api.types.is_string_dtype(rows.method) and set(rows.method) == {"none", "imm"}
    assert {p.name for p in plots} == {"valid_vs_epoch.png", "test_vs_train_fraction.png",
                                       "test_vs_k.png"}
    assert all(p.is_file() and p.stat().st_size > 1000 for p in plots)
    assert "vs bigram" in proc.stdout  # the full-model-vs-bigram table
