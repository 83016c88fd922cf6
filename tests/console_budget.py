"""The quiet console, as a terminal shows it: line counts and what must not be printed.

Used by every sweep's ``--quick`` end-to-end test and by the reliability tests:

    proc = subprocess.run([...sweep..., "--quick"], capture_output=True, text=True)
    assert_quiet_console(proc, budget=40)

A progress bar that redraws in place (``\\r``) counts as one line.
"""

from __future__ import annotations

import subprocess

NOISE = ("╭", "Trial status", "started with configuration", "\x1b[", "(pid=",
         "on the new API stack", "WARNING")
"""Tune's boxes and tables, per-trial configs, colour codes, Ray worker log prefixes,
RLlib's notices: none of them belongs on a quiet console."""


def console_lines(output: str) -> list[str]:
    """The lines a terminal would show: each ``\\r`` redraw replaces its line."""
    return [line.rsplit("\r", 1)[-1] for line in output.split("\n") if line.strip("\r ")]


def assert_quiet_console(proc: subprocess.CompletedProcess, budget: int) -> list[str]:
    """stdout (+ stderr when captured apart) is at most ``budget`` lines, the
    ``results:``/``plot:`` lines come last on stdout (no Ray line after them), and none
    of :data:`NOISE` appears. Returns stdout's lines."""
    lines = console_lines(proc.stdout)
    err = console_lines(proc.stderr or "")
    text = "\n".join(lines + err)
    assert len(lines) + len(err) <= budget, \
        f"{len(lines)} + {len(err)} lines > {budget}:\n{text[-3000:]}"
    outputs = [i for i, ln in enumerate(lines) if ln.startswith(("results:", "plot:"))]
    assert outputs and outputs == list(range(outputs[0], len(lines))), text[-3000:]
    for noise in NOISE:
        assert noise not in text, f"{noise!r} in the console:\n{text[-3000:]}"
    return lines
