"""Helpers of the reliability tests, reusable by any sweep test: run a script in a
subprocess and check its console (the quiet-console line budget).

    proc = run_sweep([SWEEPS / "lambda_vs_n.py", "--quick", "--storage-path", tmp], tmp)
    assert_quiet_console(proc, budget=60)

A progress bar that redraws in place (``\\r``) counts as one line, as a terminal shows it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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


def wait_for(condition, timeout: float) -> bool:
    """Poll ``condition()`` every 0.2 s until it is true (True) or ``timeout`` s pass."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def ctrl_c_once(argv: list, log: Path, marker: str, cwd) -> tuple[int, str]:
    """Start ``python ARGV...`` in its own process group, wait until ``marker`` is in the
    work ``log``, send SIGINT to the group (a terminal's Ctrl-C); ``(exit code, output)``.
    The group is SIGKILLed if anything fails on the way."""
    proc = subprocess.Popen([sys.executable, *map(str, argv)], env=clean_env(), cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        assert wait_for(lambda: log.exists() and marker in log.read_text(), 200)
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, out
