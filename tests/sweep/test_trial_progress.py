"""Progress inside a trial (issue 23): a trial's ``sweep.progress`` reaches the driver's
board through Ray, the progress line shows it beside Tune's counts, and outside a sweep
it is a no-op."""

from __future__ import annotations

import pytest

from imm_ray import sweep
from imm_ray.sweep import progress_board as progress_mod
from imm_ray.sweep.callbacks import ProgressCallback


def test_describe_lists_running_trials_that_published():
    states = {"a": (40, 130, "fits"), "b": (800, 2500, "steps"), "gone": (1, 1, "fits")}
    assert progress_mod.describe(states, ["a", "b", "c"]) == "fits 40/130, steps 800/2500"
    assert progress_mod.describe(states, ["c"]) == ""
    many = {str(i): (i, 9, "fits") for i in range(5)}
    assert progress_mod.describe(many, list(many)) == "fits 0/9, fits 1/9, fits 2/9, +2"


def test_progress_outside_a_trial_is_a_no_op():
    sweep.progress(1, 2, "fits")  # no Tune context, no board: nothing raised or sent


@pytest.mark.slow
def test_a_trials_progress_reaches_the_drivers_board_and_the_line(ray_local, tmp_path,
                                                                   monkeypatch):
    from ray import tune

    from imm_ray.sweep.console import QUIET_ENV

    def trainable(config):  # defined here: pickled by value (workers cannot import tests)
        import time

        for done in range(1, 4):
            sweep.progress(done, 3, "fits")
            time.sleep(0.05)
        tune.report({"x": 1.0})

    monkeypatch.setenv(QUIET_ENV, "1")
    callback = ProgressCallback()
    tuner = tune.Tuner(trainable, run_config=tune.RunConfig(
        storage_path=str(tmp_path), name="p", callbacks=[callback], verbose=0))
    grid = tuner.fit()
    assert grid.num_errors == 0
    trial_id = grid[0].metrics["trial_id"]
    states = ray_local.get(callback._board.get.remote())
    assert states == {trial_id: (3, 3, "fits")}  # the last update is always sent
    monkeypatch.setattr("imm_ray.sweep.callbacks.POLL_SECONDS", 0.0)
    assert callback._inside_trials([trial_id]) == "fits 3/3"
    assert callback._inside_trials(["another"]) == ""
