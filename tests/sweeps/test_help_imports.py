"""``--help`` and a bad flag answer without importing torch, RLlib or transformers (issue
23: they cost less than ``import torch``; the timings are benchmarks/cli_startup.py's).
The property is checked from Python's own import log, not from a clock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"
HEAVY = ("torch", "ray.rllib", "transformers", "pandas")
LIGHT = {"lambda_vs_n": ["--seeds", "0"], "lm_ptb": ["--methods", "kd"],
         "rl_restricted_view": ["--seeds", "0"], "rl_gridworld": ["--configs", "x"],
         "lm_transformers": ["--methods", "kd"], "lm_finetune": ["--methods", "kd"]}


def imported(argv: list[str]) -> tuple[int, set[str]]:
    out = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True,
                         text=True, timeout=120)
    names = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()
             if line.startswith("import time:")}
    return out.returncode, names


@pytest.mark.parametrize("name", sorted(LIGHT))
def test_help_and_a_bad_flag_import_no_heavy_package(name):
    for argv, code in (([str(SWEEPS / f"{name}.py"), "--help"], 0),
                       ([str(SWEEPS / f"{name}.py"), *LIGHT[name]], 2)):
        rc, names = imported(argv)
        assert rc == code, argv
        heavy = sorted(n for n in names if n.split(".")[0] in HEAVY or n.startswith(HEAVY))
        assert not heavy, f"{argv[-1]}: imported {heavy[:5]}"
