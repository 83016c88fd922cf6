"""sweeps/rl_gridworld.py: argument checks before Ray, the trial plan (lambda groups), the
rows' ratio and lambda columns, the lambda search's own folder prefix and its fit feeding
--schedule, and the --quick sweep end to end in a subprocess."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sweep_helpers import SWEEPS, assert_rejected_before_ray, load_script

NAME = "rl_gridworld"
SCRIPT = SWEEPS / f"{NAME}.py"


@pytest.mark.parametrize("argv,message", [
    (["--configs", "none", "dqn"], r"--configs: unknown \['dqn'\]"),
    (["--epochs", "0", "10"], "--epochs: every size must be an integer >= 1"),
    (["--search-ratios", "1.0"], r"--search-ratios must be in \[0, 1\)"),
    (["--schedule", "nope.json"], "--schedule: no file nope.json"),
    (["--schedule", "linear"], "unknown schedule preset 'linear'"),
    (["--seeds", "0"], "--seeds must be >= 1"),
    (["--reward-cov", "-1"], "positive definite"),
    (["--pomdp-reward-cov", "-0.3"], "--pomdp-reward-cov: reward_cov must be positive definite"),
    (["--pomdp-reward-cov", "nan"], "--pomdp-reward-cov: reward_cov must be a positive number"),
])
def test_bad_arguments_fail_before_ray_starts(argv, message, tmp_path, capsys):
    assert_rejected_before_ray(load_script(NAME), argv, message, tmp_path, capsys)


@pytest.mark.parametrize("content,message", [
    ('{"fit": {}}', "KeyError: 'schedule'"),
    ('{"schedule": {"slope": 0.1, "offset": 2}}', "TypeError: .*offset"),
    ('{"schedule": ', "JSONDecodeError"),
    ('{"schedule": "linear"}', "ValueError: unknown schedule preset 'linear'"),
])
def test_bad_schedule_file_fails_before_ray_starts(content, message, tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert_rejected_before_ray(load_script(NAME), ["--schedule", str(path)],
                               f"--schedule {re.escape(str(path))}: {message}", tmp_path,
                               capsys)


def test_lambda_search_runs_have_their_own_folder_prefix(tmp_path):
    """A plain --resume picks the newest rl_gridworld_* folder: never a search's."""
    script = load_script(NAME)
    search, _, _ = script.parse_args(["--lambda-search", "--storage-path", str(tmp_path)])
    assert search.name.startswith("rl_lambda_search_")
    assert not list(tmp_path.glob("rl_gridworld_*"))
    (tmp_path / search.name / "tuner.pkl").write_bytes(b"")  # as if Tune had started it
    with pytest.raises(SystemExit):  # no figure run to resume
        script.parse_args(["--resume", "--storage-path", str(tmp_path)])
    resumed, _, _ = script.parse_args(["--lambda-search", "--resume", "--storage-path",
                                       str(tmp_path)])
    assert resumed.name == search.name
    figure, _, _ = script.parse_args(["--storage-path", str(tmp_path)])
    assert figure.name.startswith("rl_gridworld_")


class FakeAlgo:
    """Stands in for IMMPG in ``evaluate``: records the mixing ratio it was asked for."""

    def evaluate_grid(self, interpolate_ratio, greedy):
        self.mix = interpolate_ratio
        return np.array([1.0, 3.0])


@pytest.mark.parametrize("config,train_ratio,ratio,mix,lam", [
    ("interpolate", 0.0, 0.2, 0.2, 0.0),  # trained without IMM, mixed at evaluation
    ("imm_argmax", 0.2, 0.2, 0.0, 0.25),
    ("none", 0.0, 0.0, 0.0, 0.0),
])
def test_rows_record_the_training_lambda_and_the_ratio(config, train_ratio, ratio, mix, lam):
    script = load_script(NAME)
    plan = {"config": config, "train_ratio": train_ratio, "epochs": [10, 50],
            "ratios": [0.3, ratio] if config == "interpolate" else [ratio, ratio]}
    rows, algo = {k: [] for k in script.ROW_FIELDS}, FakeAlgo()
    assert script.evaluate(algo, plan, 50, rows, greedy=False) == 2.0
    assert algo.mix == pytest.approx(mix) and script.train_lambda(plan) == pytest.approx(lam)
    assert rows["ratio"] == [ratio, ratio] and rows["lambda"] == pytest.approx([lam, lam])


def test_default_plan_groups_sizes_by_the_reference_rule(tmp_path):
    script = load_script(NAME)
    _, sweep, trial = script.parse_args(["--storage-path", str(tmp_path)])
    assert trial.seeds == 30 and len(sweep.epochs) == 15
    plans = script.plan_trials(sweep)
    assert len(plans) == 8 and sum(max(p["epochs"]) for p in plans) == 2950
    by = {(p["config"], p["train_ratio"]): p for p in plans}
    assert by[("imm_argmax", 0.2)]["epochs"] == [10, 20, 30, 40, 50, 75, 100, 150]
    assert by[("imm_argmax", 0.1)]["epochs"] == [200, 250, 300, 350, 400, 450, 500]
    interp = by[("interpolate", 0.0)]
    assert interp["ratios"][interp["epochs"].index(150)] == 0.2
    assert interp["ratios"][interp["epochs"].index(200)] == 0.1
    assert max(plans[0]["epochs"]) == 500  # longest first


def synthetic_search_rows(best_at: dict) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for n, best in best_at.items():
        for r in np.round(np.arange(0, 1, 0.1), 1):
            for s in range(30):
                rows.append({"config": "imm_argmax", "epochs": n, "seed": s, "ratio": r,
                             "lambda": r / (1 - r), "mean_return":
                             10 - 20 * (r - best) ** 2 + rng.normal(0, 0.3)})
    return pd.DataFrame(rows)


def test_lambda_search_fit_is_usable_as_the_sweep_schedule(tmp_path, capsys):
    script = load_script(NAME)
    rows = synthetic_search_rows({50: 0.3, 200: 0.2, 400: 0.1})
    csv, figs = script.write_search(rows, tmp_path)
    saved = json.loads((tmp_path / "fitted_schedule.json").read_text())
    assert [b["ratio"] for b in saved["best"]] == [0.3, 0.2, 0.1]
    assert Path(csv).is_file() and Path(figs[0]).is_file()
    assert "fitted schedule" in capsys.readouterr().out
    _, sweep, _ = script.parse_args(["--schedule", str(tmp_path / "fitted_schedule.json"),
                                     "--storage-path", str(tmp_path)])
    schedule = script.load_schedule(sweep.schedule)
    assert schedule.ratio(50) == pytest.approx(0.3) and schedule.ratio(400) == pytest.approx(0.1)
    groups = {p["train_ratio"] for p in script.plan_trials(sweep) if p["config"] != "none"}
    assert 0.3 in groups


@pytest.mark.slow
def test_quick_sweep_end_to_end(tmp_path):
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--storage-path", str(tmp_path),
         "--name", "quick"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-2].startswith("results: ") and lines[-1].startswith("plot: ")
    rows = pd.read_csv(lines[-2].removeprefix("results: "))
    assert {"config", "epochs", "seed", "lambda", "mean_return"} <= set(rows.columns)
    assert len(rows) == 5 * 2 * 4 and rows.groupby(["config", "epochs"]).size().eq(4).all()
    assert Path(lines[-1].removeprefix("plot: ")).is_file()
    assert "reference points within 95% CI" in out.stdout
