"""``--track`` end to end, offline: MLflow (a local SQLite store under the storage path)
and TensorBoard through Tune's callbacks, across Ctrl-C and ``--resume``; W&B offline
where it is installed. And ``--config <saved config.yaml>`` reproduces a sweep."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "reliability"))
from reliability_helpers import DRIVER, clean_env, ctrl_c_once, run_sweep  # noqa: E402


def mlflow_runs(uri: str, experiment: str) -> pd.DataFrame:
    import mlflow

    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    return pd.DataFrame([{"trial_id": r.data.tags.get("trial_id"), "status": r.info.status,
                          "score": r.data.metrics.get("score"), "i": r.data.params.get("i")}
                         for r in runs])


@pytest.mark.slow
@pytest.mark.timeout(420)
@pytest.mark.parametrize("tools", [("tensorboard",), ("mlflow", "tensorboard")])
def test_tracking_survives_ctrl_c_and_resume(tmp_path, tools):
    """TensorBoard alone runs wherever Ray is installed (tensorboardX comes with Tune, so
    also in CI); MLflow needs the ``tracking`` extra."""
    for module in ("tensorboardX", *(("mlflow",) if "mlflow" in tools else ())):
        pytest.importorskip(module)
    log, runs = tmp_path / "work.log", tmp_path / "runs"
    argv = [str(DRIVER), "--mode", "slow", "--trials", "3", "--sleep", "2",
            "--max-concurrent", "1", "--work-log", str(log), "--name", "tracked",
            "--storage-path", str(runs), "--track", *tools]
    returncode, out = ctrl_c_once(argv, log, "start 1", tmp_path)
    assert returncode == 130, out[-3000:]
    uri = f"sqlite:///{runs / 'mlflow.db'}"
    if "mlflow" in tools:
        before = mlflow_runs(uri, "tracked")
        assert "RUNNING" not in set(before.status), before  # the interrupted run was closed
        assert before.score.notna().sum() >= 1  # trial 0's metric is there
    command = out.strip().splitlines()[-1].strip().split()[1:]
    resumed = subprocess.run([sys.executable, *command], env=clean_env(), cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    if "mlflow" in tools:
        after = mlflow_runs(uri, "tracked")
        # one run per trial, kept across the resume; every trial's config and metric logged
        assert len(after) == 3 and after.trial_id.nunique() == 3, after
        assert set(after.status) == {"FINISHED"}, after
        assert sorted(after.score) == [0.0, 1.0, 2.0] and sorted(after.i) == ["0", "1", "2"]
    # TensorBoard: every trial's folder (3, none added by the resume) has written events
    events = list((runs / "tracked").glob("*/events.out.tfevents.*"))
    written = {e.parent for e in events if e.stat().st_size > 0}
    assert len({e.parent for e in events}) == 3 and len(written) == 3, events
    assert len(list((runs / "tracked").glob("*/params.json"))) == 3


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_wandb_runs_offline(tmp_path):
    pytest.importorskip("wandb")
    proc = run_sweep([DRIVER, "--trials", "2", "--storage-path", tmp_path / "runs",
                      "--track", "wandb"], tmp_path, 300,
                     clean_env(WANDB_MODE="offline", WANDB_API_KEY="", WANDB_SILENT="true"))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert list((tmp_path / "runs").rglob("offline-run-*")), "no offline W&B run written"


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_the_saved_config_reproduces_the_sweep(tmp_path):
    """A small lambda_vs_n sweep, then ``--config <its config.yaml>``: the same trials
    (configs) and the same rows."""
    script = REPO / "sweeps" / "lambda_vs_n.py"
    first = run_sweep([script, "--quick", "--sizes", "4", "8", "--methods", "imm", "none",
                       "--seeds", "2", "--ratios", "0", "0.8", "--storage-path",
                       tmp_path / "runs", "--name", "one"], tmp_path, 300, clean_env())
    assert first.returncode == 0, first.stdout[-3000:]
    saved = tmp_path / "runs" / "one" / "config.yaml"
    assert "sizes: [4, 8]" in saved.read_text()
    again = run_sweep([script, "--config", saved, "--name", "two"], tmp_path, 300,
                      clean_env())
    assert again.returncode == 0, again.stdout[-3000:]
    one, two = (pd.read_csv(tmp_path / "runs" / n / "lambda_vs_n.csv") for n in ("one", "two"))
    pd.testing.assert_frame_equal(one, two)
    params = [sorted(p.read_text() for p in (tmp_path / "runs" / n).glob("*/params.json"))
              for n in ("one", "two")]
    assert len(params[0]) == 4 and params[0] == params[1]
