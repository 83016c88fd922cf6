"""--gpus-per-trial (fractional) and --cpus-per-trial reach Tune's resource requests and the
trial's torch device; without GPUs a trial runs on CPU with a one-line notice."""

import pytest
import ray
from cluster_helpers import run_driver

from imm_ray import tune_cli


def parse(*argv):
    args = tune_cli.sweep_parser("x", "x").parse_args(list(argv))
    return args


def test_fractional_gpus_map_to_tune_resources(monkeypatch, capsys):
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8.0, "GPU": 2.0})
    args = parse("--gpus-per-trial", "0.25", "--cpus-per-trial", "0.5")
    assert tune_cli.trial_resources(args) == {"cpu": 0.5, "gpu": 0.25}
    assert capsys.readouterr().out == ""


def test_without_gpus_in_the_cluster_trials_request_cpu_only(monkeypatch, capsys):
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8.0})
    assert tune_cli.trial_resources(parse("--gpus-per-trial", "1")) == {"cpu": 1.0, "gpu": 0.0}
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("notice:") and "running on CPU" in out[0]


def test_trial_device_notice_when_torch_sees_no_gpu(monkeypatch, capsys):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert tune_cli.trial_device(0.5).type == "cpu"
    assert "notice:" in capsys.readouterr().out
    assert tune_cli.trial_device(0).type == "cpu"
    assert capsys.readouterr().out == ""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_tune_receives_the_requests_and_places_gpu_trials_on_the_gpu_node(loopback_cluster,
                                                                          tmp_path):
    """Two trials of 0.5 GPU + 0.5 CPU share the one (declared) GPU of node 1; inside,
    Ray gives them GPU 0 and torch (CPU build) falls back to CPU with the notice."""
    proc, rows = run_driver(loopback_cluster, "resources", "--gpus-per-trial", "0.5",
                            "--cpus-per-trial", "0.5", "--storage-path", str(tmp_path))
    assert len(rows) == 2
    for row in rows:
        assert row["bundles"] == [{"CPU": 0.5, "GPU": 0.5}]
        assert row["gpu_ids"] == ["0"] and row["cuda_visible"] == "0"
        assert row["device"] == "cpu"
        assert row["node_resources"]["GPU"] == 1 and "loopback_node_1" in row["node_resources"]
    # node ids in the results: from tune_cli.report (trial 0) and from run_tuner's
    # callback for a trainable that reports without one (trial 1)
    assert all(row["node_id"] == row["own_node_id"] for row in rows)
    assert len({row["node_id"] for row in rows}) == 1
    assert "notice: 0.5 GPU(s) per trial requested but torch sees no CUDA" in proc.stdout
