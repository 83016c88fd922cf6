"""The quiet console: what a sweep prints while Tune runs.

By default (no ``--verbose``) a sweep prints where its experiment is stored, then ONE
progress line that updates in place (:class:`imm_ray.sweep.callbacks.ProgressCallback`,
a tqdm bar on stderr: trials done / total, running, errored, elapsed, ETA), then
whatever the script prints (tables, ``results:`` / ``plot:``). Tune's own output is off:
its legacy reporter at verbosity 0 prints nothing (the new output engine prints an
experiment box even at 0), its ``ray.tune`` log lines (e.g. a failed trial's traceback,
which :func:`imm_ray.sweep.run.trial_errors` prints cleanly afterwards) are raised to
CRITICAL, and the trials' stdout/stderr stay in Ray's log files (``log_to_driver=False``,
:mod:`imm_ray.sweep.ray_start`).

``--verbose`` restores Tune's default output (trial tables, per-trial boxes), Ray's log
lines and the trials' output on the driver. A resumed sweep keeps the Tune verbosity it
was started with; the bar follows the ``--verbose`` given now.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

QUIET_ENV = "IMM_RAY_QUIET"
"""Set to 1 by :func:`quiet_console` while a quiet sweep runs; the progress callback
(:class:`imm_ray.sweep.callbacks.ProgressCallback`, pickled with a restored Tuner) reads
it, so ``--verbose`` on a resume is honoured."""
_TUNE_LOGGERS = ("ray.tune", "ray.train", "ray.air")
INTERRUPTED = threading.Event()
"""Set by :class:`imm_ray.sweep.callbacks.InterruptCallback` on Ctrl-C during a fit."""
UNFINISHED_AT_INTERRUPT: set[str] = set()
"""Ids of the trials not yet TERMINATED/ERROR when the Ctrl-C came (noted by the same
callback): Tune's cleanup then marks the running ones TERMINATED, but they did not finish."""


@contextlib.contextmanager
def quiet_console(verbose: bool):
    """Tune quiet (or not) for the duration of ``Tuner.fit``; restores logging after."""
    saved_env = {k: os.environ.get(k) for k in (QUIET_ENV, "RAY_AIR_NEW_OUTPUT")}
    loggers = {name: logging.getLogger(name).level for name in _TUNE_LOGGERS}
    if not verbose:
        os.environ[QUIET_ENV] = "1"
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # the legacy reporter is silent at 0
        for name in _TUNE_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    else:
        os.environ.pop(QUIET_ENV, None)
    try:
        yield
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for name, level in loggers.items():
            logging.getLogger(name).setLevel(level)


def tune_verbosity(verbose: bool) -> int | None:
    """``RunConfig(verbose=...)``: 0 when quiet, Tune's default otherwise."""
    return None if verbose else 0
