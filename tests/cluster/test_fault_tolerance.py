"""No lost results: a trial whose worker process is killed resumes from its last checkpoint
and ends exactly like an uninterrupted run; a sweep whose driver is killed finishes with
--resume without re-running finished trials, every CSV row exactly once.

Both run on the loopback cluster (tests/cluster/drivers.py). The lambda sweep's own
kill-and-resume test is tests/sweeps/test_lambda_vs_n.py (local Ray, one report per
trial); the one here kills a cluster job whose trials checkpoint every step.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from cluster_helpers import DRIVERS, ROOT, driver_env, run_driver, tiny_corpus


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_killed_trial_worker_resumes_from_checkpoint_with_identical_metrics(
        loopback_cluster, tmp_path):
    """Two identical LM trials (imm_ray.experiments.lm_ptb.trainable.train_lm, seed 0, 4 epochs,
    one per node);
    the first one's worker is SIGKILLed after epoch 2. Tune retries it (--max-failures 1)
    in a new process from its checkpoint, and its final perplexities equal the twin's."""
    data = tiny_corpus(tmp_path / "corpus")
    kill_log = tmp_path / "killed.json"
    _, (victim, twin) = run_driver(
        loopback_cluster, "lm_kill", "--data-path", str(data), "--epochs", "4",
        "--kill-log", str(kill_log), "--max-failures", "1",
        "--storage-path", str(tmp_path / "runs"))
    killed = json.loads(kill_log.read_text())
    assert killed["trial_id"] == victim["trial_id"] and killed["epoch"] == 2
    assert victim["error"] is None and twin["error"] is None
    # Resumed, not restarted: one report per epoch (a restart would report 1, 2 again),
    # the last ones from a new worker process.
    assert victim["epochs"] == twin["epochs"] == [1, 2, 3, 4]
    assert victim["pids"][:2] == [killed["pid"]] * 2 and victim["pids"][-1] != killed["pid"]
    assert victim["valid_ppl"] == twin["valid_ppl"] and victim["test_ppl"] == twin["test_ppl"]


def work_log(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=["seed", "step"])
    return pd.read_csv(path, sep=" ", names=["seed", "step"])


def recorded_steps(exp: Path) -> dict[int, int]:
    """Per seed, the last step in the trial's result.json in storage (what Tune kept)."""
    out = {}
    for result in exp.glob("count_steps_*/result.json"):
        lines = result.read_text().splitlines()
        if lines:
            last = json.loads(lines[-1])
            out[last["config"]["seed"]] = last["step"]
    return out


def trial_processes_gone(cluster, timeout=30) -> bool:
    """The killed driver's trial actors are gone (Ray kills a dead job's actors)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        titles = []
        for pid in cluster.pids():
            try:
                titles.append(Path(f"/proc/{pid}/cmdline").read_text())
            except OSError:
                pass
        if not any("ImplicitFunc" in t for t in titles):
            return True
        time.sleep(0.3)
    return False


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_killed_driver_resumes_without_rerunning_finished_trials(loopback_cluster, tmp_path):
    trials, steps = 5, 3
    log, csv = tmp_path / "work.log", tmp_path / "rows.csv"
    argv = ["--trials", str(trials), "--steps", str(steps), "--sleep", "0.5",
            "--work-log", str(log), "--csv", str(csv), "--name", "resume",
            "--storage-path", str(tmp_path)]
    exp = tmp_path / "resume"
    with open(tmp_path / "first.log", "w") as out:
        first = subprocess.Popen([sys.executable, str(DRIVERS), "resume", *argv], stdout=out,
                                 stderr=subprocess.STDOUT, env=driver_env(loopback_cluster),
                                 cwd=ROOT)
        try:
            deadline = time.time() + 180
            while time.time() < deadline and first.poll() is None:
                if sum(s == steps for s in recorded_steps(exp).values()) >= 2:
                    break
                time.sleep(0.1)
            assert first.poll() is None, "the sweep ended before it could be killed"
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
    assert trial_processes_gone(loopback_cluster)
    before = recorded_steps(exp)
    finished = {seed for seed, s in before.items() if s == steps}
    assert 2 <= len(finished) < trials and not csv.exists()
    done_before = work_log(log)

    proc, rows = run_driver(loopback_cluster, "resume", *argv, "--resume")
    assert "resuming" in proc.stdout
    table = pd.read_csv(csv)
    assert sorted(table.seed) == list(range(trials))  # every row exactly once
    assert (table.step == steps).all()
    assert (table.value == table.seed * 1000 + steps).all()

    after = work_log(log).iloc[len(done_before):]
    assert not set(after.seed) & finished  # finished trials did not run again
    for seed, step in before.items():  # unfinished ones continued from their checkpoint
        if seed not in finished:
            assert after[after.seed == seed].step.min() == step + 1
