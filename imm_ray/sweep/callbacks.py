"""Tune callbacks every imm_ray sweep gets from :func:`imm_ray.sweep.run_tuner`:
``node_id`` on every result, the one-line progress bar of the quiet console, and the
note of a Ctrl-C that tells an interrupted sweep from a finished one."""

from __future__ import annotations

import os
import signal
import sys
import threading

from ray.tune import Callback

from imm_ray.sweep.console import INTERRUPTED, QUIET_ENV


class NodeIdCallback(Callback):
    """Adds ``node_id`` (the Ray node a trial ran on) to results that lack it.

    :func:`imm_ray.sweep.report` already adds it; this covers trainables that report
    otherwise (RLlib algorithms). Tune's own ``node_ip`` and ``hostname`` are the same for
    two Ray nodes of one machine, so they cannot tell nodes apart. Tune lets callbacks
    modify a result in place before it is logged and stored.
    """

    def __init__(self):
        self._nodes: dict[str, str | None] = {}

    def on_trial_result(self, iteration, trials, trial, result, **info):
        actor = trial.temporary_state.ray_actor
        if "node_id" in result or actor is None:
            return
        key = actor._actor_id.hex()
        if key not in self._nodes:
            self._nodes[key] = actor_node_id(key)
        if self._nodes[key]:
            result["node_id"] = self._nodes[key]


def actor_node_id(actor_id: str) -> str | None:
    """The node of a live actor from Ray's actor table (GCS; no dashboard needed)."""
    try:
        from ray._private.state import actors

        return actors(actor_id=actor_id)["Address"]["NodeID"] or None
    except Exception:  # an internal API: a missing node id rather than a failed sweep
        return None


class ProgressCallback(Callback):
    """One progress line for the whole sweep (tqdm on stderr), updated in place.

    ``done`` counts trials that finished or errored for good; the bar's total is Tune's
    number of samples (grid points x ``num_samples``) once known, else the trials seen.
    Off unless :data:`QUIET_ENV` is set. In a non-terminal (a log file) it redraws at
    most every 30 s, so a long sweep's log stays short.
    """

    def __init__(self, total: int | None = None):
        self.total = total
        self._bar = None

    def __getstate__(self):  # pickled into tuner.pkl: no live bar
        return {"total": self.total, "_bar": None}

    def setup(self, total_num_samples: int | None = None, **info):
        if total_num_samples and total_num_samples < sys.maxsize:
            self.total = int(total_num_samples)

    def _ensure_bar(self):
        if self._bar is None and os.environ.get(QUIET_ENV):
            from tqdm.auto import tqdm

            tty = sys.stderr.isatty()
            self._bar = tqdm(total=self.total, unit="trial", desc="trials", file=sys.stderr,
                             dynamic_ncols=True, mininterval=0.5 if tty else 30.0,
                             bar_format="{desc} {n}/{total} done{postfix} |{bar:20}| "
                                        "{elapsed} elapsed, ETA {remaining}")
        return self._bar

    def on_step_end(self, iteration: int, trials: list, **info):
        bar = self._ensure_bar()
        if bar is None:
            return
        status = [t.status for t in trials]
        done = sum(s in ("TERMINATED", "ERROR") for s in status)
        bar.total = max(self.total or 0, len(trials))
        bar.set_postfix_str(f"{status.count('RUNNING')} running, {status.count('ERROR')} "
                            "errored", refresh=False)
        bar.update(done - bar.n)

    def on_experiment_end(self, trials: list, **info):
        if self._bar is not None:
            self.on_step_end(0, trials)
            self._bar.close()  # draws the final state once, then a newline
            self._bar = None


class InterruptCallback(Callback):
    """Notes a Ctrl-C (SIGINT) that Tune turns into a graceful stop, so that
    :func:`imm_ray.sweep.run.check_finished` can tell an interrupted sweep from a finished one.

    Tune installs its SIGINT handler before it sets up callbacks; ours wraps it.
    """

    def setup(self, **info):
        if threading.current_thread() is not threading.main_thread():
            return
        tune_handler = signal.getsignal(signal.SIGINT)

        def noted(sig, frame):
            INTERRUPTED.set()
            if callable(tune_handler):
                tune_handler(sig, frame)

        signal.signal(signal.SIGINT, noted)
