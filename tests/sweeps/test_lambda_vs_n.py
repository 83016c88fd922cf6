"""sweeps/lambda_vs_n.py: argument checks before Ray, the grouped Optuna search, and
end-to-end runs through Tune on a local Ray (--quick, --search optuna, kill + --resume)."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from sweep_helpers import SWEEPS, assert_rejected_before_ray, load_script

ROOT = Path(__file__).resolve().parents[2]
NAME = "lambda_vs_n"
SCRIPT = SWEEPS / f"{NAME}.py"


@pytest.mark.parametrize("argv,message", [
    (["--sizes", "1", "5"], "--sizes: every n must be an integer >= 2"),
    (["--ratios", "0.5", "1.0"], r"--ratios must be in \[0, 1\)"),
    (["--ratios", "-0.1"], r"--ratios must be in \[0, 1\)"),
    (["--methods", "imm", "dropout"], "--methods: unknown \\['dropout'\\]"),
    (["--seeds", "0"], "--seeds must be >= 1"),
    (["--sizes", "4", "4"], "--sizes must not repeat"),
    (["--search", "random"], "--search must be 'grid' or 'optuna'"),
    (["--rho", "1.5"], "rho must be in"),
    (["--l2", "-1"], "l2 must be >= 0"),
])
def test_bad_arguments_fail_before_ray_starts(argv, message, tmp_path, capsys):
    assert_rejected_before_ray(load_script(NAME), argv, message, tmp_path, capsys)


def test_quick_preset_and_explicit_flags(tmp_path):
    script = load_script(NAME)
    args, sweep, toy = script.parse_args(["--quick", "--seeds", "3",
                                          "--storage-path", str(tmp_path)])
    assert sweep.sizes == (2, 8, 32) and sweep.seeds == 3 and toy.test_size == 5000
    assert args.name.startswith("lambda_vs_n_")
    _, sweep, toy = script.parse_args(["--storage-path", str(tmp_path)])
    assert len(sweep.sizes) == 25 and sweep.seeds == 100 and sweep.ratios[-1] == 0.9
    assert set(sweep.methods) == {"none", "imm", "reverse_kd", "noising"}
    _, sweep, _ = script.parse_args(["--search", "optuna", "--storage-path", str(tmp_path)])
    assert sweep.sizes == script.OPTUNA_SIZES and sweep.optuna_trials == 6
    _, sweep, _ = script.parse_args(["--search", "optuna", "--sizes", "5", "9",
                                     "--storage-path", str(tmp_path)])
    assert sweep.sizes == (5, 9)


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

    from imm_ray.toy.search import GroupedSearch

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
    for col in ("method", "ratio", "lambda", "n", "seed", "test_accuracy", "test_log_loss"):
        assert col in df.columns
    keys = list(zip(df.method, df.ratio.round(6), df.n, df.seed, strict=True))
    assert len(keys) == len(set(keys)), "duplicate rows"
    assert set(keys) == expected
    metrics = df[["test_accuracy", "test_log_loss", "valid_log_loss", "lambda"]].to_numpy()
    assert all(math.isfinite(v) for v in metrics.flatten())
    assert df.converged.all()
    return df


@pytest.mark.slow
def test_quick_run_through_tune_writes_every_row_and_the_plots(tmp_path):
    proc = run(["--quick"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (csv,), pngs = outputs(proc.stdout)
    check_csv(csv, expected_rows((2, 8, 32), (0.0, 0.3, 0.6, 0.9), 10))
    assert len(pngs) == 3
    assert all(Path(p).is_file() and Path(p).stat().st_size > 10_000 for p in pngs)
    assert "imm beats none with non-overlapping 95% CIs" in proc.stdout
    schedules = json.loads((Path(csv).parent / "schedules.json").read_text())
    assert set(schedules) == {"imm", "reverse_kd", "noising", "interpolate"}


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
    assert (searched.ratio.between(0, 0.95)).all()
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
    resumed = run([*preset, "--resume"], tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming" in resumed.stdout
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
    assert "sweep" not in out
