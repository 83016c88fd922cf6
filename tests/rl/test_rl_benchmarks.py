"""``benchmarks/rl_imm_overhead.py`` prints the JSON it promises: every variant timed and
its ratio to PPO."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_overhead_benchmark_times_every_variant(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "rl_imm_overhead.py"),
                           "--iterations", "1"], capture_output=True, text=True, timeout=360,
                          cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    variants = ("ppo", "immppo", "immppo_every2", "immppo_every4")
    for name in variants:
        assert out[name]["iterations"] == 1 and out[name]["median_s_per_iteration"] > 0
    for key, name in (("ratio", "immppo"), ("ratio_every2", "immppo_every2"),
                      ("ratio_every4", "immppo_every4")):
        expected = out[name]["median_s_per_iteration"] / out["ppo"]["median_s_per_iteration"]
        assert out[key] == pytest.approx(expected, abs=1e-3)
    assert out["settings"]["k"] == 16 and out["settings"]["every"] == [1, 2, 4]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_continuous_overhead_benchmark_times_every_variant(tmp_path):
    """``benchmarks/rl_imm_continuous_overhead.py``: Pendulum, k = 16, m = 8."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" /
                                               "rl_imm_continuous_overhead.py"),
                           "--iterations", "1"], capture_output=True, text=True, timeout=360,
                          cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    for name in ("ppo", "immppo", "immppo_every2", "immppo_every4"):
        assert out[name]["iterations"] == 1 and out[name]["median_s_per_iteration"] > 0
    expected = out["immppo"]["median_s_per_iteration"] / out["ppo"]["median_s_per_iteration"]
    assert out["ratio"] == pytest.approx(expected, abs=1e-3)
    assert out["settings"]["k"] == 16 and out["settings"]["samples"] == 8
    assert out["settings"]["env"] == "Pendulum-v1"
