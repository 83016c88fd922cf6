"""Progress inside a trial, shown on the sweep's one progress line.

Tune learns of a trial's progress only through ``tune.report``, and a report without the
sweep's metric is refused; a long trial (a lambda-vs-n cell with large ``n``, a
Transformers run of thousands of steps) would show ``0/32 done`` for many minutes. So
trials publish ``(done, total, unit)`` on a side channel instead: a small named Ray actor
(the *board*), which the driver's :class:`imm_ray.sweep.callbacks.ProgressCallback` reads
every few seconds and shows beside the count of finished trials::

    trials 3/12 done, 2 running (fits 40/130, steps 800/2500), 0 errored

The board only displays: nothing is stored or counted from it (the counts of finished
trials stay Tune's). A trainable run outside a sweep (no board, no Tune context) makes
:func:`progress` a no-op, by design, as the progress is a display aid.
"""

from __future__ import annotations

import time

BOARD = "imm_ray_trial_progress"
"""Name of the board actor (in the driver job's namespace)."""
MIN_INTERVAL = 1.0
"""Seconds between a trial's updates (the last one of a run is always sent)."""

_state = {"handle": None, "looked_up": False, "sent": 0.0}


def progress(done: int, total: int, unit: str) -> None:
    """Publish that this trial has done ``done`` of ``total`` ``unit`` (fits, steps...).

    Call it as often as is natural: updates closer than :data:`MIN_INTERVAL` apart are
    dropped (except ``done == total``); sending never waits for the driver.
    """
    now = time.monotonic()
    if done < total and now - _state["sent"] < MIN_INTERVAL:
        return
    board, trial_id = _board_and_trial()
    if board is None:
        return
    _state["sent"] = now
    board.set.remote(trial_id, int(done), int(total), str(unit))


def _board_and_trial():
    """(the board's handle, this trial's id), or (None, None) outside a sweep's trial."""
    import warnings

    try:
        from ray import tune

        with warnings.catch_warnings():  # outside a trial Ray warns and returns None
            warnings.simplefilter("ignore")
            trial_id = tune.get_context().get_trial_id()
    except Exception:  # no Tune context at all (a Ray Train worker)
        trial_id = None
    if trial_id is None:  # not inside a Tune trial (a script, a test)
        return None, None
    if not _state["looked_up"]:
        import ray

        _state["looked_up"] = True
        try:
            _state["handle"] = ray.get_actor(BOARD)
        except ValueError:  # the driver made no board (a trainable run by plain Tune)
            _state["handle"] = None
    return _state["handle"], trial_id


def create_board():
    """The driver's board (made once per driver; Ray must be running)."""
    import ray

    @ray.remote(num_cpus=0)
    class Board:
        def __init__(self):
            self.state: dict[str, tuple[int, int, str]] = {}

        def set(self, trial_id: str, done: int, total: int, unit: str) -> None:
            self.state[trial_id] = (done, total, unit)

        def get(self) -> dict:
            return dict(self.state)

    return Board.options(name=BOARD, get_if_exists=True).remote()


def describe(states: dict, running: list[str], limit: int = 3) -> str:
    """``"fits 40/130, steps 800/2500"`` for the ``running`` trial ids that published
    progress (at most ``limit``, then ``+N``); ``""`` when none has."""
    parts = [f"{unit} {done}/{total}" for tid in running if tid in states
             for done, total, unit in [states[tid]]]
    more = f", +{len(parts) - limit}" if len(parts) > limit else ""
    return ", ".join(parts[:limit]) + more
