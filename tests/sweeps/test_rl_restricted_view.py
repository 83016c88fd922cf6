"""sweeps/rl_restricted_view.py and its package modules
(imm_ray.experiments.rl_restricted_view.steps,
view_trainable, view_report): every flag and trial config checked before Ray, the trial
plan (paired seeds; none carries every checkpoint for interpolate), the paired report,
and the --quick sweep end to end in a subprocess, with a --resume that re-runs nothing."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from console_budget import assert_quiet_console

from imm_ray.experiments.rl_restricted_view import report as view_report
from imm_ray.experiments.rl_restricted_view.steps import check_sweep, plan_trials
from imm_ray.experiments.rl_restricted_view.trainable import ROW_FIELDS, ViewTrialConfig, trial_seed

SCRIPT = Path(__file__).resolve().parents[2] / "sweeps" / "rl_restricted_view.py"
SWEEP = {"methods": ("none", "imm", "reverse_kd", "interpolate"), "seeds": 2,
         "restricted_checkpoint": "", "restricted_iterations": 3, "restricted_early": 1}


@pytest.mark.parametrize("sweep,trial,message", [
    ({"methods": ("none", "dqn")}, {}, r"--methods: unknown \['dqn'\]"),
    ({"methods": ("none", "none")}, {}, "--methods must not repeat a value"),
    ({}, {"budgets": (5, 5)}, "--budgets must not repeat a value"),
    ({}, {"budgets": (0, 5)}, "--budgets must be an integer >= 1, got 0"),
    ({}, {"view": (2, 2)}, "--view must not repeat a value"),
    ({}, {"view": (2, 5)}, r"--view: restricted_view indices \[5\] are out of range"),
    ({"seeds": 0}, {}, "--seeds must be an integer >= 1, got 0"),
    ({"restricted_early": 3}, {}, r"--restricted-early \(3\) must be below"),
    ({"restricted_checkpoint": "/nope"}, {}, "--restricted-checkpoint: no checkpoint at '/nope'"),
    ({}, {"env": "NoSuchEnv-v0"}, "--env: no gymnasium environment 'NoSuchEnv-v0'"),
    ({}, {"samples": 0}, "--samples must be an integer >= 1, got 0"),
    ({}, {"env": "Pendulum-v1", "view": (0, 3)},
     r"--view: restricted_view indices \[3\] are out of range"),
    ({}, {"induced": "kmeans"}, "--induced must be pool, neighbours or binned"),
    ({}, {"k": 0}, "--k must be an integer >= 1, got 0"),
    ({}, {"imm_every": 0}, "--imm-every must be an integer >= 1, got 0"),
    ({}, {"pool_size": 0}, "--pool-size must be an integer >= 1, got 0"),
    ({}, {"lr": float("inf")}, r"--lr must be a finite number in \(0, 10\], got inf"),
    ({}, {"imm_lambda": -1.0}, "--imm-lambda must be a finite number >= 0, got -1.0"),
    ({}, {"interpolate_ratio": 2.0}, r"--interpolate-ratio must be a finite number in \[0, 1\]"),
])
def test_bad_settings_are_rejected_naming_the_flag(sweep, trial, message):
    import ray

    with pytest.raises(ValueError, match=message):
        check_sweep(replace(ViewTrialConfig(), **trial), **{**SWEEP, **sweep})
    assert not ray.is_initialized()


def test_plan_pairs_seeds_and_gives_none_every_checkpoint():
    paths = {"early": "/e", "late": "/l"}
    plans = plan_trials(SWEEP["methods"], 3, paths)
    assert len(plans) == 3 * (1 + 2 + 2)
    none = [p for p in plans if p["method"] == "none"]
    assert [p["run"] for p in none] == [0, 1, 2]
    assert none[0]["restricted_paths"] == ("early=/e", "late=/l")
    imm = [p for p in plans if p["method"] == "imm" and p["run"] == 1]
    assert [(p["restricted"], p["restricted_paths"]) for p in imm] == [
        ("early", ("early=/e",)), ("late", ("late=/l",))]
    seeds = {trial_seed(replace(ViewTrialConfig(), **p)) for p in plans if p["run"] == 2}
    assert len(seeds) == 1  # run i of every method: the same seed (paired)
    assert not any(p["method"] == "imm" for p in plan_trials(("none",), 2, paths))


def synthetic_rows():
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(6):
        base = rng.normal(100, 20)
        for config, gain in (("none", 0), ("imm:late", 50), ("reverse_kd:late", 1)):
            method, _, label = config.partition(":")
            rows.append({"config": config, "method": method, "restricted": label,
                         "iterations": 5, "seed": seed, "imm_lambda": 0.5, "ratio": 0.0,
                         "mean_return": base + gain + rng.normal(0, 2),
                         "greedy_return": base})
    return pd.DataFrame(rows)


def test_paired_differences_follow_the_seeds():
    rows = synthetic_rows()
    diffs = view_report.paired(rows).set_index("config")
    assert diffs.loc["imm:late", "diff"] == pytest.approx(50, abs=3)
    assert diffs.loc["imm:late", "ci_low"] > 40  # paired: the seed effect cancels
    assert diffs.loc["reverse_kd:late", "ci_low"] < 1 < diffs.loc["reverse_kd:late", "ci_high"]
    text = view_report.paired_table(view_report.paired(rows))
    assert "| imm:late | +50" in text and "*" in text.splitlines()[2]


def run_script(*argv, cwd):
    return subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True,
                          text=True, timeout=600, cwd=cwd)


def test_a_bad_flag_stops_the_script_before_ray_starts(tmp_path):
    out = run_script("--view", "2", "9", "--storage-path", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 2 and "error: --view: restricted_view indices [9]" in out.stderr
    assert "step 1" not in out.stdout


BUDGET_VIEW = 57
"""Console lines the quiet --quick run may print (56 measured with the pytest run's stderr:
four tables of 7 configs, and since issue 22 the weak-restricted-policy warning of
--quick's 2-iteration step 1)."""


@pytest.mark.slow
def test_quick_sweep_end_to_end_and_resume_reruns_nothing(tmp_path):
    out = run_script("--quick", "--storage-path", str(tmp_path), "--name", "quick",
                     cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert_quiet_console(out, budget=BUDGET_VIEW)
    lines = out.stdout.strip().splitlines()
    assert lines[-2].startswith("results: ") and lines[-1].startswith("plot: ")
    rows = pd.read_csv(lines[-2].removeprefix("results: "))
    assert list(rows.columns) == list(ROW_FIELDS)
    configs = {"none", "imm:early", "imm:late", "reverse_kd:early", "reverse_kd:late",
               "interpolate:early", "interpolate:late"}
    assert set(rows.config) == configs
    assert rows.groupby(["config", "iterations"]).size().eq(2).all() and len(rows) == 7 * 2 * 2
    assert Path(lines[-1].removeprefix("plot: ")).is_file()
    assert "Paired difference to none" in out.stdout
    summary = json.loads((tmp_path / "quick" / "restricted" / "summary.json").read_text())
    assert set(summary) == {"early", "late"} and summary["late"]["iteration"] == 2
    progress = sorted(tmp_path.glob("quick/train_view_*/progress.csv"))
    lengths = [len(p.read_text().splitlines()) for p in progress]
    again = run_script("--resume", "--storage-path", str(tmp_path), "--name", "quick",
                       cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "step 1" in again.stdout and "restricted policy late" not in again.stdout  # cached
    assert [len(p.read_text().splitlines()) for p in progress] == lengths  # nothing re-run
    assert pd.read_csv(again.stdout.strip().splitlines()[-2].removeprefix("results: ")
                       ).equals(rows)


def test_an_iteration_without_a_finished_episode_reports_no_nan():
    """A policy that balances longer than the train batch ends no episode: RLlib reports a
    NaN episode return, which must be left out (a NaN metric stops the trial)."""
    from imm_ray import metrics as M
    from imm_ray.experiments.rl_restricted_view.trainable import iteration_metrics

    result = {"learners": {"default_policy": {M.LOSS_MAIN: 0.5, M.LOSS_IMM: 0.25}},
              "env_runners": {"episode_return_mean": float("nan")}}
    out = iteration_metrics(result, 3)
    assert out == {M.EPOCH: 3, M.LOSS_MAIN: 0.5, M.LOSS_IMM: 0.25}
    result["env_runners"]["episode_return_mean"] = 200.0
    assert iteration_metrics(result, 3)[M.TRAIN_EPISODE_RETURN_MEAN] == 200.0


@pytest.mark.slow
def test_quick_sweep_on_pendulum_box_actions_end_to_end_and_resume(tmp_path):
    """Box actions unchanged through the same script: step 1 trains a Gaussian policy on
    (cos, sin) and saves it in the exchange format (no pickle), IMM and reverse-KD draw m
    actions from it, interpolate mixes the two Gaussians at evaluation; --resume re-runs
    nothing."""
    argv = ("--env", "Pendulum-v1", "--view", "0", "1", "--restricted-early", "0",
            "--samples", "4", "--k", "4", "--storage-path", str(tmp_path), "--name", "pend")
    out = run_script("--quick", *argv, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    rows = pd.read_csv(lines[-2].removeprefix("results: "))
    assert set(rows.config) == {"none", "imm:late", "reverse_kd:late", "interpolate:late"}
    assert rows.groupby(["config", "iterations"]).size().eq(2).all() and len(rows) == 4 * 2 * 2
    assert (rows.mean_return < 0).all() and (rows.greedy_return < 0).all()  # Pendulum costs
    late = tmp_path / "pend" / "restricted" / "late"  # the Gaussian, without pickle
    assert sorted(p.name for p in late.iterdir()) == ["spec.json", "weights.safetensors"]
    progress = sorted(tmp_path.glob("pend/train_view_*/progress.csv"))
    assert any("loss/imm" in p.read_text().splitlines()[0] for p in progress)
    lengths = [len(p.read_text().splitlines()) for p in progress]
    again = run_script("--resume", *argv, cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert [len(p.read_text().splitlines()) for p in progress] == lengths  # nothing re-run
    assert pd.read_csv(again.stdout.strip().splitlines()[-2].removeprefix("results: ")
                       ).equals(rows)
