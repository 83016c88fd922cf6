"""``benchmarks/lm_imm.py --quick`` prints the JSON it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from imm_ray.lm.data import DATA_DIR_ENV, default_data_dir

PTB_DIR = default_data_dir()
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_benchmark_quick_prints_json(tmp_path):
    if not PTB_DIR.is_dir():
        pytest.skip(f"PTB not found at {PTB_DIR} (set {DATA_DIR_ENV})")
    from imm_ray.lm.data import prepare_corpus

    path = prepare_corpus(PTB_DIR, cache_dir=tmp_path)
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "lm_imm.py"), "--quick",
                           "--data-path", str(path)], capture_output=True, text=True,
                          timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    for model in ("lstm", "transformer"):
        t = out["time"][model]
        assert t["imm_over_none"] > 0 and t["none"]["tokens_per_s"] > 0
        assert "imm_forward" in t["imm"]["time_split"]
    assert set(out["memory"]["serialized_chunk1"]) == {"1", "10"}
    full = out["full_data"]
    assert full["imm_over_none"] > 0 and full["reverse_kd_over_none"] > 0
    assert full["none"]["steps"] == 3 and full["imm_settings"]["every"] >= 1
