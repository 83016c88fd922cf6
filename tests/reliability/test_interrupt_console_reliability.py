"""Issue 22, the console after Ctrl-C: counts are what Tune recorded as finished (a trial
a Ctrl-C stopped is TERMINATED but not ``done``), "errored" counts failing and retried
trials, and a second Ctrl-C exits 130 with the resume command, without a traceback."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from reliability_helpers import clean_env, wait_for

from imm_ray.sweep import callbacks
from imm_ray.sweep import run as sweep_run
from imm_ray.sweep.callbacks import ProgressCallback
from imm_ray.sweep.console import INTERRUPTED, QUIET_ENV

DRIVER = Path(__file__).with_name("reliability_drivers.py")


def trial(tid, status, done=False, failures=0):
    return SimpleNamespace(trial_id=tid, status=status, run_metadata=SimpleNamespace(
        last_result={"done": done} if status != "PENDING" else {}, num_failures=failures))


def test_progress_counts_only_finished_trials_and_every_failing_one(monkeypatch, capsys):
    monkeypatch.setenv(QUIET_ENV, "1")
    # after an interrupt: 3 done before it (a resumed run's may lack "done"), 1 done in
    # its last step, 2 stopped by Tune's cleanup (TERMINATED, not done), 2 retried after a
    # failure (RUNNING / PENDING again), 4 never started
    trials = ([trial(f"f{i}", "TERMINATED", done=i > 0) for i in range(3)]
              + [trial("last", "TERMINATED", done=True)]
              + [trial("s1", "TERMINATED"), trial("s2", "TERMINATED")]
              + [trial("r1", "RUNNING", failures=1), trial("r2", "PENDING", failures=2)]
              + [trial(f"p{i}", "PENDING") for i in range(4)])
    monkeypatch.setattr(callbacks, "UNFINISHED_AT_INTERRUPT",
                        {"last", "s1", "s2", "r1", "r2", "p0", "p1", "p2", "p3"})
    bar = ProgressCallback(total=12)
    bar.on_step_end(1, trials)
    bar.on_experiment_end(trials)
    err = capsys.readouterr().err
    assert "trials 4/12 done, 1 running, 2 errored" in err, err


class _Grid(list):
    @property
    def num_errors(self):
        return sum(r.error is not None for r in self)

    @property
    def num_terminated(self):  # what Tune reports after an interrupted fit
        return sum(r.error is None and r.status == "TERMINATED" for r in self)


def test_interrupted_summary_counts_only_finished_trials(tmp_path, capsys, monkeypatch):
    grid = _Grid([SimpleNamespace(error=None, status="TERMINATED", metrics={"trial_id": "a"})]
                 + [SimpleNamespace(error=None, status="TERMINATED",
                                    metrics={"done": True, "trial_id": "b"})] * 3
                 + [SimpleNamespace(error=None, status="TERMINATED",
                                    metrics={"done": False, "trial_id": f"s{i}"})
                    for i in range(8)])
    args = argparse.Namespace(storage_path=str(tmp_path), name="x", resume=False,
                              experiment="rel", quick=False)
    monkeypatch.setattr(sweep_run, "UNFINISHED_AT_INTERRUPT", {f"s{i}" for i in range(8)})
    INTERRUPTED.set()
    try:
        with pytest.raises(SystemExit) as exc:
            sweep_run.check_finished(grid, args)
    finally:
        INTERRUPTED.clear()
    assert exc.value.code == 130
    err = capsys.readouterr().err
    assert "interrupted: 4 of 12 trial(s) finished, 0 failed, 8 stopped or not started" in err


def slow_sweep(tmp_path, name):
    """The driver with 6 one-minute trials, 2 at a time; returns (process, work log)."""
    log = tmp_path / "work.log"
    log.write_text("")
    argv = [str(DRIVER), "--mode", "slow", "--trials", "6", "--sleep", "60",
            "--max-concurrent", "2", "--work-log", str(log), "--name", name,
            "--storage-path", str(tmp_path / "runs")]
    proc = subprocess.Popen([sys.executable, *argv], env=clean_env(), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    return proc, log


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_ctrl_c_with_two_trials_running_says_none_finished(tmp_path):
    """Two trials running, none finished: the console says 0 finished (Tune marks the two
    it stops TERMINATED; before, this printed "2 trial(s) finished" and "2/6 done")."""
    proc, log = slow_sweep(tmp_path, "once")
    try:
        assert wait_for(lambda: log.read_text().count("start") >= 2, 240)
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out[-3000:]
    assert re.search(r"interrupted: 0 of \d trial\(s\) finished", out), out[-3000:]
    shown = re.findall(r"trials (\d+)/6 done", out)
    assert shown and shown[-1] == "0", out[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_second_ctrl_c_exits_130_with_the_resume_command_and_no_traceback(tmp_path):
    proc, log = slow_sweep(tmp_path, "twice")
    try:
        assert wait_for(lambda: log.read_text().count("start") >= 2, 240)
        os.kill(proc.pid, signal.SIGINT)  # the driver only: Ray's workers keep running
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out[-3000:]
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out[-3000:]
    assert out.strip().splitlines()[-1].strip().endswith("--name twice --resume"), out[-3000:]
