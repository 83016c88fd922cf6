"""sweeps/rl_gridworld.py and its package modules (imm_ray.experiments.rl_gridworld.trainable,
grid_report):
every flag and trial config checked before Ray, the trial plan (lambda groups), the rows'
ratio and lambda columns, the lambda search's own folder prefix and its fit feeding
--schedule, and the --quick sweep end to end in a subprocess (same numbers as before the
package refactor)."""

import json
import re
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from console_budget import assert_quiet_console

from imm_ray.experiments.rl_gridworld import report as grid_report
from imm_ray.experiments.rl_gridworld.trainable import (
    CONFIGS,
    ROW_FIELDS,
    GridTrialConfig,
    evaluate,
    load_schedule,
    plan_sweep,
    plan_trials,
    train_lambda,
)

SCRIPT = Path(__file__).resolve().parents[2] / "sweeps" / "rl_gridworld.py"
SWEEP = {"configs": CONFIGS, "epochs": (10, 20), "schedule": "reference_rl",
         "lambda_search": False, "search_ratios": (0.0, 0.5), "search_epochs": (10, 20)}


def plan(trial=None, **sweep):
    return plan_sweep(**{**SWEEP, **sweep}, trial_fields=trial or {})


@pytest.mark.parametrize("sweep,trial,message", [
    ({"configs": ("none", "dqn")}, {}, r"--configs: unknown \['dqn'\]"),
    ({"configs": ("none", "none")}, {}, "--configs must not repeat a value"),
    ({"epochs": (0, 10)}, {}, "--epochs: every size must be an integer >= 1"),
    ({"epochs": (10, 10)}, {}, "--epochs must not repeat a value"),
    ({"search_ratios": (0.2, 0.2)}, {}, "--search-ratios must not repeat a value"),
    ({"search_ratios": (1.0,)}, {}, r"--search-ratios must be in \[0, 1\)"),
    ({"schedule": "nope.json"}, {}, "--schedule: no file nope.json"),
    ({"schedule": "linear"}, {}, "unknown schedule preset 'linear'"),
    ({}, {"seeds": 0}, "--seeds must be an integer >= 1"),
    ({}, {"lr": float("inf")}, r"--lr must be in \(0, 10\], got inf"),
    ({}, {"lr": float("nan")}, r"--lr must be in \(0, 10\]"),
    ({}, {"gamma": 1.0}, r"--gamma must be in \[0, 1\)"),
    ({}, {"reward_cov": -1.0}, "positive definite"),
    ({}, {"reward_cov": 1e-300}, "too small"),
    ({}, {"pomdp_reward_cov": -0.3}, "--pomdp-reward-cov: reward_cov must be positive def"),
    ({}, {"pomdp_reward_cov": float("nan")}, "--pomdp-reward-cov: reward_cov must be a pos"),
])
def test_bad_settings_are_rejected_naming_the_flag(sweep, trial, message):
    import ray

    with pytest.raises(ValueError, match=message):
        plan(trial, **sweep)
    assert not ray.is_initialized()


@pytest.mark.parametrize("content,message", [
    ('{"fit": {}}', "KeyError: 'schedule'"),
    ('{"schedule": {"slope": 0.1, "offset": 2}}', "unknown fields \\['offset'\\]"),
    ('{"schedule": ', "JSONDecodeError"),
    ('{"schedule": "linear"}', "ValueError: unknown schedule preset 'linear'"),
    ('{"schedule": {"slope": NaN, "intercept": 0.1}}', "slope"),
])
def test_bad_schedule_file_is_rejected(content, message, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=f"--schedule {re.escape(str(path))}: .*{message}"):
        plan(schedule=str(path))


def run_script(*argv, cwd):
    return subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def test_a_bad_flag_stops_the_script_before_ray_starts(tmp_path):
    out = run_script("--configs", "none", "none", "--storage-path", str(tmp_path),
                     cwd=tmp_path)
    assert out.returncode == 2
    assert "error: --configs must not repeat a value" in out.stderr
    assert "experiment:" not in out.stdout and not list(tmp_path.glob("*/tuner.pkl"))


def test_lambda_search_runs_have_their_own_folder_prefix(tmp_path):
    """A plain --resume picks the newest rl_gridworld_* folder: never a search's."""
    (tmp_path / "rl_lambda_search_2026-01-01_00-00-00").mkdir()
    (tmp_path / "rl_lambda_search_2026-01-01_00-00-00" / "tuner.pkl").write_bytes(b"")
    out = run_script("--resume", "--storage-path", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 2 and "no restorable rl_gridworld_* experiment" in out.stderr


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
    trial = GridTrialConfig(config=config, train_ratio=train_ratio, epochs=(10, 50),
                            ratios=(0.3, ratio) if config == "interpolate" else (ratio, ratio))
    rows, algo = {k: [] for k in ROW_FIELDS}, FakeAlgo()
    assert evaluate(algo, trial, 50, rows) == 2.0
    assert algo.mix == pytest.approx(mix) and train_lambda(trial) == pytest.approx(lam)
    assert rows["ratio"] == [ratio, ratio] and rows["lambda"] == pytest.approx([lam, lam])
    assert rows["config"] == [config, config]  # a readable string column


def test_default_plan_groups_sizes_by_the_reference_rule():
    epochs = (10, 20, 30, 40, 50, 75, 100, 150, 200, 250, 300, 350, 400, 450, 500)
    plans = plan_trials(CONFIGS, epochs, "reference_rl")
    assert len(plans) == 8 and sum(max(p["epochs"]) for p in plans) == 2950
    by = {(p["config"], p["train_ratio"]): p for p in plans}
    assert by[("imm_argmax", 0.2)]["epochs"] == [10, 20, 30, 40, 50, 75, 100, 150]
    assert by[("imm_argmax", 0.1)]["epochs"] == [200, 250, 300, 350, 400, 450, 500]
    interp = by[("interpolate", 0.0)]
    assert interp["ratios"][interp["epochs"].index(150)] == 0.2
    assert interp["ratios"][interp["epochs"].index(200)] == 0.1
    assert max(plans[0]["epochs"]) == 500  # longest first
    assert GridTrialConfig().seeds == 30


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
    rows = synthetic_search_rows({50: 0.3, 200: 0.2, 400: 0.1})
    csv, figs = grid_report.write_search(rows, tmp_path)
    saved = json.loads((tmp_path / "fitted_schedule.json").read_text())
    assert [b["ratio"] for b in saved["best"]] == [0.3, 0.2, 0.1]
    assert Path(csv).is_file() and Path(figs[0]).is_file()
    assert "fitted schedule" in capsys.readouterr().out
    path = str(tmp_path / "fitted_schedule.json")
    schedule = load_schedule(path)
    assert schedule.ratio(50) == pytest.approx(0.3) and schedule.ratio(400) == pytest.approx(0.1)
    groups = {p["train_ratio"] for p in plan(schedule=path, epochs=(50, 200, 400))
              if p["config"] != "none"}
    assert 0.3 in groups


QUICK_HEAD = """config,epochs,seed,ratio,lambda,mean_return
imm_argmax,10,0,0.2,0.25,1.8306155038916405
imm_argmax,10,1,0.2,0.25,2.5574833879555356"""
"""The --quick CSV's first rows on main before the package refactor (same seeds)."""


BUDGET_GRID = 22
"""Console lines the quiet --quick run may print (17 measured)."""


@pytest.mark.slow
def test_quick_sweep_end_to_end(tmp_path):
    out = run_script("--quick", "--storage-path", str(tmp_path), "--name", "quick",
                     cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert_quiet_console(out, budget=BUDGET_GRID)
    lines = out.stdout.strip().splitlines()
    assert lines[-2].startswith("results: ") and lines[-1].startswith("plot: ")
    csv = Path(lines[-2].removeprefix("results: "))
    assert csv.read_text().startswith(QUICK_HEAD)
    rows = pd.read_csv(csv)
    assert list(rows.columns) == list(ROW_FIELDS)
    assert len(rows) == 5 * 2 * 4 and rows.groupby(["config", "epochs"]).size().eq(4).all()
    assert Path(lines[-1].removeprefix("plot: ")).is_file()
    assert "reference points within 95% CI" in out.stdout
    resolved = sorted(tmp_path.glob("quick/*/checkpoint_*/resolved_config.json"))
    assert len(resolved) == 5
    saved = json.loads(resolved[0].read_text())
    assert set(asdict(GridTrialConfig())) == set(saved) and saved["seeds"] == 4
