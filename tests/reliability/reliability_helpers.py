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


def console_lines(output: str) -> list[str]:
    """The lines a terminal would show: each ``\\r`` redraw replaces its line."""
    return [line.rsplit("\r", 1)[-1] for line in output.split("\n") if line.strip("\r ")]


def assert_quiet_console(proc: subprocess.CompletedProcess, budget: int) -> list[str]:
    """At most ``budget`` lines; ``results:``/``plot:`` last (no Ray line after them);
    no Tune box or per-trial config, no ANSI colour codes. Returns the lines."""
    lines = console_lines(proc.stdout)
    text = "\n".join(lines)
    assert len(lines) <= budget, f"{len(lines)} lines > {budget}:\n{text[-3000:]}"
    outputs = [i for i, ln in enumerate(lines) if ln.startswith(("results:", "plot:"))]
    assert outputs and outputs == list(range(outputs[0], len(lines))), text[-3000:]
    for noise in ("╭", "Trial status", "started with configuration", "\x1b[", "(pid="):
        assert noise not in text, f"{noise!r} in the console:\n{text[-3000:]}"
    return lines
