"""sweeps/lambda_vs_n.py: argument checks before Ray, the grouped Optuna search, and
end-to-end runs through Tune on a local Ray (--quick, --search optuna, kill + --resume)."""

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from console_budget import assert_quiet_console

from imm_ray import core
from imm_ray.experiments.lambda_vs_n import cli
from imm_ray.experiments.lambda_vs_n.config import DEFAULT_RATIOS, OPTUNA_TOY_SIZES

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "sweeps" / "lambda_vs_n.py"
QUICK_RATIOS = cli.QUICK["ratios"]


def test_quick_preset_and_explicit_flags(tmp_path):
    args, run = cli.parse_args(["--quick", "--seeds", "3", "--storage-path", str(tmp_path)])
    assert run.sweep.sizes == (2, 8, 32) and run.sweep.seeds == 3 and run.toy.test_size == 5000
    assert args.name.startswith("lambda_vs_n_") and args.sizes == [2, 8, 32]
    _, run = cli.parse_args(["--storage-path", str(tmp_path)])
    assert len(run.sweep.sizes) == 25 and run.sweep.seeds == 100
    assert run.sweep.ratios == DEFAULT_RATIOS and run.sweep.ratios[-1] == 0.999
    assert set(run.sweep.methods) == {"none", "imm", "reverse_kd", "noising"}
    assert run.table is None and run.fit.l2 == 1e-3
    _, run = cli.parse_args(["--search", "optuna", "--storage-path", str(tmp_path)])
    assert run.sweep.sizes == OPTUNA_TOY_SIZES and run.sweep.optuna_trials == 6
    _, run = cli.parse_args(["--search", "optuna", "--sizes", "5", "9",
                             "--storage-path", str(tmp_path)])
    assert run.sweep.sizes == (5, 9)


def test_a_table_gets_sizes_from_its_training_pool(tmp_path, capsys):
    args, run = cli.parse_args(["--dataset", "sklearn:breast_cancer", "--target", "target",
                                "--restricted", "worst perimeter", "--storage-path",
                                str(tmp_path)])
    assert run.sweep.sizes == (4, 7, 12, 20, 34, 58, 100, 171) and run.toy is None
    assert run.table.restricted == ("worst perimeter",) and len(run.sha256) == 64
    assert "569 rows: test 142, validation 85, auxiliary 171, training pool 171" in \
        capsys.readouterr().out


def test_the_script_rejects_a_bad_flag_before_ray_starts(tmp_path):
    proc = run(["--tol", "inf"], tmp_path, timeout=120)
    assert proc.returncode == 2 and "--tol must be a finite number" in proc.stderr
    assert "Started a local Ray" not in proc.stdout + proc.stderr


class FakeSearcher:
    def __init__(self, tag):
        self.tag, self.count, self.done = tag, 0, []

    def suggest(self, trial_id):
        self.count += 1
        return {"ratio": self.count / 10}

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.done.append((trial_id, result))


def test_grouped_search_runs_one_sequential_search_per_group(tmp_path):
    from ray.tune.search import Searcher

    from imm_ray.experiments.lambda_vs_n.search import GroupedSearch

    groups = [{"method": "imm", "n": 2}, {"method": "imm", "n": 8}, {"method": "none", "n": 2}]
    search = GroupedSearch(groups, lambda g: None if g["method"] == "none" else
                           FakeSearcher(g["n"]), budget=2, metric="loss")
    assert search.total_trials == 5
    a, b, c = (search.suggest(t) for t in "abc")
    assert (a, b, c) == ({"method": "imm", "n": 2, "ratio": 0.1},
                         {"method": "imm", "n": 8, "ratio": 0.1}, {"method": "none", "n": 2})
    assert search.suggest("d") is None  # every group waits for its running trial
    search.on_trial_complete("a", {"loss": 1.0})
    assert search.searchers[0].done == [("a", {"loss": 1.0})]
    path = tmp_path / "state.pkl"
    search.save(str(path))
    assert search.suggest("e") == {"method": "imm", "n": 2, "ratio": 0.2}
    restored = GroupedSearch(groups, lambda g: None, budget=1, metric="loss")
    restored.restore(str(path))
    assert restored.in_flight == {"b": 1, "c": 2} and restored.started == [1, 1, 1]
    for t in "bce":
        search.on_trial_complete(t, {"loss": 0.5})
    assert search.suggest("f") == {"method": "imm", "n": 8, "ratio": 0.2}
    search.on_trial_complete("f", {"loss": 0.5})
    assert search.suggest("g") == Searcher.FINISHED


# --------------------------------------------------------------------------- end to end


def run(args, tmp_path, timeout=240, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run([sys.executable, str(SCRIPT), *args, "--storage-path", str(tmp_path)],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path,
                          **kw)


def outputs(stdout):
    lines = stdout.splitlines()
    csv = [ln.split("results: ", 1)[1] for ln in lines if ln.startswith("results: ")]
    pngs = [ln.split("plot: ", 1)[1] for ln in lines if ln.startswith("plot: ")]
    return csv, pngs


def expected_rows(sizes, ratios, seeds, methods=("imm", "noising", "reverse_kd")):
    rows = set()
    for n in sizes:
        for s in range(seeds):
            rows.add(("none", 0.0, n, s))
            rows |= {(m, r, n, s) for m in (*methods, "interpolate") for r in ratios}
    return rows


def check_csv(path, expected):
    df = pd.read_csv(path)
    assert "method_id" not in df.columns
    for col in ("method", "ratio", "lambda", "n", "seed", "test_accuracy", "test_log_loss"):
        assert col in df.columns
    keys = list(zip(df.method, df.ratio.round(6), df.n, df.seed, strict=True))
    assert len(keys) == len(set(keys)), "duplicate rows"
    assert set(keys) == expected
    metrics = df[["test_accuracy", "test_log_loss", "valid_log_loss", "lambda"]].to_numpy()
    assert all(math.isfinite(v) for v in metrics.flatten())
    assert df.converged.all()
    return df


BUDGET_LAMBDA = 35
"""Console lines the quiet --quick run may print (30 measured)."""


@pytest.mark.slow
def test_quick_run_through_tune_writes_every_row_and_the_plots(tmp_path):
    proc = run(["--quick"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert_quiet_console(proc, budget=BUDGET_LAMBDA)
    (csv,), pngs = outputs(proc.stdout)
    check_csv(csv, expected_rows((2, 8, 32), QUICK_RATIOS, 10))
    assert len(pngs) == 3
    assert all(Path(p).is_file() and Path(p).stat().st_size > 10_000 for p in pngs)
    assert "imm beats none with non-overlapping 95% CIs at n = [2, 8, 32]" in proc.stdout
    specs = json.loads((Path(csv).parent / "schedules.json").read_text())
    assert set(specs) == {"imm", "reverse_kd", "noising", "interpolate"}
    imm = core.make_schedule(specs["imm"])
    assert 0.9 < imm.ratio(8) <= 0.995 and imm(8) == core.lambda_from_ratio(imm.ratio(8))
    from imm_ray import analysis

    rows = analysis.load_rows(Path(csv).parent)  # readable columns straight from Tune
    assert set(rows.method) == {"none", "imm", "reverse_kd", "noising", "interpolate"}
    assert len(rows) == len(pd.read_csv(csv))
    resolved = json.loads(next(Path(csv).parent.glob(
        "train_lambda_cell_*/checkpoint_*/resolved_config.json")).read_text())
    assert resolved["seeds"] == 10 and resolved["toy"]["test_size"] == 5000
    # the in-process runner (no Ray) gives the same rows from the trial's resolved config
    from imm_ray.config import from_dict
    from imm_ray.experiments.lambda_vs_n import local
    from imm_ray.experiments.lambda_vs_n.config import ToyConfig
    from imm_ray.tabular.config import FitConfig

    mine = local.run_toy(from_dict(ToyConfig, resolved["toy"]), sizes=(resolved["n"],),
                         ratios=resolved["ratios"], methods=(resolved["method"],),
                         seeds=resolved["seeds"], fit=from_dict(FitConfig, resolved["fit"]),
                         progress=False)
    mine = mine[mine.method == resolved["method"]]  # a none cell also yields interpolate
    tune_rows = rows[(rows.method == resolved["method"]) & (rows.n == resolved["n"])].sort_values(
        ["ratio", "seed"])
    assert len(mine) == len(tune_rows) > 0
    assert np.allclose(mine.sort_values(["ratio", "seed"]).test_log_loss, tune_rows.test_log_loss,
                       rtol=1e-9, atol=1e-12)
    trial_dirs = [p.name for p in Path(csv).parent.glob("train_*") if p.is_dir()]
    assert len(trial_dirs) == 12, trial_dirs  # <trainable>_<trial id>, no config string
    assert all(re.fullmatch(r"train_lambda_cell_[0-9a-f]+_\d{5}", d) for d in trial_dirs)


@pytest.mark.slow
def test_dataset_path_end_to_end_on_a_small_csv(tmp_path):
    g = np.random.default_rng(0)
    x = g.standard_normal(150)
    df = pd.DataFrame({"x": x, "z": x + g.standard_normal(150),
                       "colour": g.choice(["red", "blue"], 150),
                       "y": np.where(x + 0.5 * g.standard_normal(150) > 0, "pos", "neg")})
    df.loc[[5, 17], "z"] = np.nan
    df.to_csv(tmp_path / "table.csv", index=False)
    proc = run(["--dataset", "table.csv", "--target", "y", "--restricted", "x", "--quick",
                "--seeds", "4", "--sizes", "6", "30"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "dropped 2 of 150 rows with missing values" in proc.stdout
    (csv,), pngs = outputs(proc.stdout)
    df = pd.read_csv(csv)
    expected = expected_rows((6, 30), QUICK_RATIOS, 4) | {("restricted", 0.0, n, s)
                                                         for n in (6, 30) for s in range(4)}
    keys = set(zip(df.method, df.ratio.round(6), df.n, df.seed, strict=True))
    assert keys == expected and len(keys) == len(df) and len(pngs) == 3
    assert df.test_accuracy.between(0, 1).all() and df.test_log_loss.gt(0).all()


@pytest.mark.slow
def test_optuna_search_finds_a_ratio_per_method_and_size(tmp_path):
    proc = run(["--quick", "--search", "optuna", "--sizes", "8", "32", "--methods", "none",
                "imm", "reverse_kd", "--optuna-trials", "3"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (csv,), pngs = outputs(proc.stdout)
    df = pd.read_csv(csv)
    searched = df[df.method.isin(["imm", "reverse_kd"])]
    tried = searched.groupby(["method", "n"]).ratio.nunique()
    assert len(tried) == 4 and (tried == 3).all()  # 3 ratios tried per (method, n)
    assert (searched.ratio.between(0, 0.999)).all()
    assert set(df[df.method == "none"].n) == {8, 32} and len(pngs) == 3
    best = pd.read_csv(Path(csv).parent / "best_ratios.csv")
    assert len(best[best.method == "imm"]) == 2


def _trial_result_lines(exp: Path) -> dict[str, int]:
    return {p.parent.name: len(p.read_text().splitlines())
            for p in exp.glob("train_lambda_cell_*/result.json")}


def _kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL the driver's whole session (driver, raylet, workers) by process id."""
    sid = proc.pid
    os.killpg(sid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.time() + 20
    while time.time() < deadline:
        left = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if os.getsid(int(d.name)) == sid:
                        left.append(int(d.name))
                except (ProcessLookupError, PermissionError):
                    pass
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)
    raise AssertionError(f"processes of the killed sweep still alive: {left}")


def _mark_one_finished_trial_running(exp: Path) -> str:
    state_file = max(exp.glob("experiment_state-*.json"))
    state = json.loads(state_file.read_text())
    for entry in state["trial_data"]:
        trial = json.loads(entry[0])
        if trial["status"] == "TERMINATED":
            trial["status"] = "RUNNING"
            entry[0] = json.dumps(trial)
            state_file.write_text(json.dumps(state))
            return trial["relative_logdir"]
    raise AssertionError("no finished trial recorded in the experiment state")


@pytest.mark.slow
def test_killed_sweep_resumes_and_runs_every_trial_exactly_once(tmp_path):
    sizes = ["30", "34", "38", "42", "46", "50"]
    preset = ["--sizes", *sizes, "--methods", "imm", "none", "--ratios", "0.2", "0.8",
              "--seeds", "40", "--valid-size", "2000", "--test-size", "4000",
              "--name", "lambda_vs_n_resume"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *preset, "--storage-path",
                             str(tmp_path)], stdout=log, stderr=subprocess.STDOUT, env=env,
                            cwd=tmp_path, start_new_session=True)
    exp = tmp_path / "lambda_vs_n_resume"
    total = 2 * len(sizes)
    try:
        deadline = time.time() + 150
        while time.time() < deadline and proc.poll() is None:
            done = sum(1 for n in _trial_result_lines(exp).values() if n >= 1)
            if done >= 3:
                break
            time.sleep(0.1)
        done_before = {k for k, n in _trial_result_lines(exp).items() if n >= 1}
        assert proc.poll() is None, "the sweep finished before it could be interrupted"
        assert 3 <= len(done_before) < total, done_before
    finally:
        _kill_session(proc)
        log.close()
    # The driver may also die between a cell's report and Tune marking it finished: mark a
    # finished trial as running in the saved state; resuming must not train it again.
    replayed = _mark_one_finished_trial_running(exp)
    conflict = run(["--name", "lambda_vs_n_resume", "--resume", "--seeds", "3"], tmp_path)
    assert conflict.returncode == 2 and "--seeds 3 (original 40)" in conflict.stderr
    resumed = run(["--name", "lambda_vs_n_resume", "--resume"], tmp_path)  # original flags
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming" in resumed.stdout and "with the original settings" in resumed.stdout
    lines = _trial_result_lines(exp)
    assert len(lines) == total and all(n == 1 for n in lines.values()), lines
    assert replayed in lines
    (csv,), _ = outputs(resumed.stdout)
    check_csv(csv, expected_rows([int(n) for n in sizes], (0.2, 0.8), 40, methods=("imm",)))


def test_benchmark_quick_prints_the_trainer_rates(tmp_path):
    """benchmarks/lambda_vs_n.py --quick --skip-sweep (the sweep part runs the script
    tested above in a subprocess)."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "lambda_vs_n.py"),
                           "--quick", "--skip-sweep"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    for method in ("imm", "reverse_kd", "noising"):
        rates = out["trainer"][method]
        assert rates["models"] == 100 and rates["speedup"] > 1.5, rates
    for method in ("imm", "reverse_kd", "noising"):
        multi = out["multiclass_trainer"][method]
        assert multi["models"] == 100 and multi["classes"] == 3 and multi["speedup"] > 1.5, multi
    assert "sweep" not in out and "table_sweep" not in out
