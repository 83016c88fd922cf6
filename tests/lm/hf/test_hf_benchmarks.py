"""benchmarks/lm_transformers.py and benchmarks/gpu_lm_transformers.py run at tiny sizes
on CPU and print the JSON they promise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run(args, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "IMM_RAY_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "out.json"
    proc = subprocess.run([sys.executable, *args, "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_cpu_benchmark_prints_ratios_and_bigram_costs(tmp_path):
    out = run(["benchmarks/lm_transformers.py", "--quick", "--repeats", "1", "--skip-ray"],
              tmp_path)
    ratio = out["step_ratio"]
    assert ratio["in_batch_over_none"] > 0 and ratio["sampled_every5_over_none"] > 0
    big = out["bigram_50k"]
    assert big["rows_shape"] == [64, 50_000]
    assert big["stored_mb"] < big["dense_vxv_float32_mb"] / 100


@pytest.mark.slow
def test_gpu_script_runs_on_cpu_at_a_tiny_size(text_dir, tmp_path):
    out = run(["benchmarks/gpu_lm_transformers.py", "--device", "cpu", "--model", "gpt2-tiny",
               "--steps", "2", "--block-size", "16", "--batch-size", "4", "--tokenizer",
               "train-wordlevel:64", "--corpus", str(text_dir)], tmp_path)
    assert [r["method"] for r in out["runs"]] == ["none", "imm_sampled_serialized",
                                                  "imm_in_batch"]
    assert all(r["seconds_per_step"] > 0 and r["tokens_per_s"] > 0 for r in out["runs"])
