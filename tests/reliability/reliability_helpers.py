"""Helpers of the reliability tests, reusable by any sweep test: run a script in a
subprocess and check its console (the quiet-console line budget).

    proc = run_sweep([SWEEPS / "lambda_vs_n.py", "--quick", "--storage-path", tmp], tmp)
    assert_quiet_console(proc, budget=60)

A progress bar that redraws in place (``\\r``) counts as one line, as a terminal shows it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from console_budget import assert_quiet_console, console_lines  # noqa: F401 (re-exported)

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("reliability_drivers.py")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without RAY_ADDRESS (start a local Ray), unbuffered output."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
    env.pop("RAY_ADDRESS", None)
    return env


def run_sweep(argv: list, cwd, timeout: float = 300, env=None) -> subprocess.CompletedProcess:
    """``python ARGV...`` in ``cwd``; stdout and stderr captured together (in order)."""
    return subprocess.run([sys.executable, *map(str, argv)], cwd=cwd, env=env or clean_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


def run_driver(*args, cwd, timeout: float = 300, env=None) -> subprocess.CompletedProcess:
    return run_sweep([DRIVER, *args], cwd, timeout, env)


