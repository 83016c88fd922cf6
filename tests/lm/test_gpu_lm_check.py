"""``benchmarks/gpu_lm_check.py`` on CPU at a tiny size, with Ray, datasets, gymnasium and
optuna made unimportable (as on the GPU machine): it trains both methods, writes the JSON
it promises and runs the CUDA-only tests (skipped here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BLOCKED = ["ray", "datasets", "gymnasium", "optuna"]
RUN = """import runpy, sys
sys.modules.update({m: None for m in %r})  # import of these now raises ImportError
sys.argv = %r
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.slow
def test_gpu_check_runs_without_ray_or_datasets_on_cpu(tiny_corpus_path, tmp_path):
    out = tmp_path / "check.json"
    argv = [str(REPO / "benchmarks" / "gpu_lm_check.py"), "--data-path", str(tiny_corpus_path),
            "--device", "cpu", "--hidden", "12", "--epochs", "2", "--steps-per-epoch", "3",
            "--imm-contexts", "4", "--imm-every", "2", "--imm-chunk", "3", "--imm-length", "6",
            "--out", str(out)]
    proc = subprocess.run([sys.executable, "-c", RUN % (BLOCKED, argv)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert json.loads(proc.stdout) == result
    train = result["training"]
    for method in ("none", "imm"):
        assert len(train[method]["s_per_epoch"]) == 2 == len(train[method]["valid_ppl"])
        assert all(1 < p < 1e4 for p in train[method]["valid_ppl"])
    assert train["imm_over_none"] > 0 and train["steps_per_epoch"] == 3
    assert set(result["imm_step_memory_k10_all_positions"]) == {"serialized_chunk1",
                                                               "plain_autograd"}
    assert result["cuda_tests"]["passed"] is True
    assert "skipped" in result["cuda_tests"]["summary"]
    assert result["forbidden_modules_loaded"] == []


def test_cuda_requested_without_a_gpu_is_refused(tiny_corpus_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_lm_check.py"),
                           "--data-path", str(tiny_corpus_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--device cuda but torch sees no CUDA" in proc.stderr
