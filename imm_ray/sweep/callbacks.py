"""Tune callbacks every imm_ray sweep gets from :func:`imm_ray.sweep.run_tuner`:
``node_id`` on every result, the one-line progress bar of the quiet console, and the
note of a Ctrl-C that tells an interrupted sweep from a finished one."""

from __future__ import annotations

import os
import signal
import sys
import threading

from ray.tune import Callback

from imm_ray.sweep.console import INTERRUPTED, QUIET_ENV, UNFINISHED_AT_INTERRUPT


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

    ``done`` counts trials that finished (their last result has Tune's ``done``: a trial a
    Ctrl-C stopped is TERMINATED too, but not done) or errored for good; ``errored``
    counts trials that failed at least once, retried ones included. The bar's total is Tune's
    number of samples (grid points x ``num_samples``) once known, else the trials seen.
    Running trials that publish their own progress (:func:`imm_ray.sweep.progress`) show
    it beside the count (``2 running (fits 40/130, steps 800/2500)``), read from the
    progress board every :data:`POLL_SECONDS`. Off unless :data:`QUIET_ENV` is set. In a
    non-terminal (a log file) it redraws at most every 30 s, so a long sweep's log stays
    short.
    """

    def __init__(self, total: int | None = None):
        self.total = total
        self._bar = None
        self._board = None
        self._inside = ("", 0.0)  # (text, monotonic time it was read)

    def __getstate__(self):  # pickled into tuner.pkl: no live bar, no actor handle
        return {"total": self.total, "_bar": None, "_board": None, "_inside": ("", 0.0)}

    def setup(self, total_num_samples: int | None = None, **info):
        if total_num_samples and total_num_samples < sys.maxsize:
            self.total = int(total_num_samples)
        if os.environ.get(QUIET_ENV):
            from imm_ray.sweep.progress_board import create_board

            self._board = create_board()

    def _inside_trials(self, running: list[str]) -> str:
        """What the running trials published, polled at most every POLL_SECONDS (a read
        that does not answer within a second keeps the last text)."""
        import time

        text, when = self._inside
        if self._board is None or time.monotonic() - when < POLL_SECONDS:
            return text
        import ray

        from imm_ray.sweep.progress_board import describe

        try:
            states = ray.get(self._board.get.remote(), timeout=1.0)
            text = describe(states, running)
        except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError):
            pass
        self._inside = (text, time.monotonic())
        return text

    def _ensure_bar(self):
        if self._bar is None and os.environ.get(QUIET_ENV):
            from tqdm.auto import tqdm

            tty = sys.stderr.isatty()
            self._bar = _BARS[id(self)] = tqdm(
                total=self.total, unit="trial", desc="trials", file=sys.stderr,
                dynamic_ncols=True, mininterval=0.5 if tty else 30.0,
                bar_format="{desc} {n}/{total} done{postfix} |{bar:20}| "
                           "{elapsed} elapsed, ETA {remaining}")
        return self._bar

    def on_step_end(self, iteration: int, trials: list, **info):
        bar = self._ensure_bar()
        if bar is None:
            return
        status = [t.status for t in trials]
        done = sum(trial_finished(t) or t.status == "ERROR" for t in trials)
        errored = sum(t.status == "ERROR" or trial_failures(t) > 0 for t in trials)
        bar.total = max(self.total or 0, len(trials))
        inside = self._inside_trials([t.trial_id for t in trials if t.status == "RUNNING"])
        inside = f" ({inside})" if inside else ""
        bar.set_postfix_str(f"{status.count('RUNNING')} running{inside}, {errored} errored",
                            refresh=False)
        bar.update(done - bar.n)

    def on_experiment_end(self, trials: list, **info):
        if self._bar is not None:
            self.on_step_end(0, trials)
            self._bar.close()  # draws the final state once, then a newline
            self._bar = None
            _BARS.pop(id(self), None)


POLL_SECONDS = 3.0
"""How often the progress line reads what running trials published."""

_BARS: dict = {}
"""Live progress bars, so that a second Ctrl-C (Tune's callbacks never end) can close
them before its message instead of one redrawing after it (:func:`close_bars`)."""


def close_bars() -> None:
    for bar in list(_BARS.values()):
        bar.close()
    _BARS.clear()


def trial_finished(trial) -> bool:
    """Whether ``trial`` finished: TERMINATED, and either already so when a Ctrl-C came or
    with ``done`` in its last result (at the end of an interrupted fit Tune marks every
    trial it stops TERMINATED too, without ``done``)."""
    return trial.status == "TERMINATED" and (
        trial.trial_id not in UNFINISHED_AT_INTERRUPT
        or bool(trial.run_metadata.last_result.get("done")))


def trial_failures(trial) -> int:
    """How often ``trial`` failed (a retried trial is RUNNING or PENDING again)."""
    return int(getattr(trial.run_metadata, "num_failures", 0) or 0)


class InterruptCallback(Callback):
    """Notes a Ctrl-C (SIGINT) that Tune turns into a graceful stop, so that
    :func:`imm_ray.sweep.run.check_finished` can tell an interrupted sweep from a finished one.

    Tune installs its SIGINT handler before it sets up callbacks; ours wraps it.
    """

    def __init__(self):
        self._trials: list = []

    def __getstate__(self):  # pickled into tuner.pkl: no trials
        return {"_trials": []}

    def on_step_end(self, iteration: int, trials: list, **info):
        self._trials = trials

    def setup(self, **info):
        if threading.current_thread() is not threading.main_thread():
            return
        tune_handler = signal.getsignal(signal.SIGINT)
        UNFINISHED_AT_INTERRUPT.clear()

        def noted(sig, frame):
            if not INTERRUPTED.is_set():
                UNFINISHED_AT_INTERRUPT.update(
                    t.trial_id for t in self._trials if t.status not in ("TERMINATED", "ERROR"))
            INTERRUPTED.set()
            if callable(tune_handler):
                tune_handler(sig, frame)

        signal.signal(signal.SIGINT, noted)
