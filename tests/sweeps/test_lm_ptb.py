"""End-to-end: ``sweeps/lm_ptb.py --quick`` through Ray Tune on a slice of PTB."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
PTB_DIR = REPO.parent / "shared" / "data" / "ptb"


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
