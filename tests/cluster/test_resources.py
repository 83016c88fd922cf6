"""--gpus-per-trial (fractional) and --cpus-per-trial reach Tune's resource requests and the
trial; a request no node can serve fails before fitting, and a trial given a GPU that its
node's torch cannot see fails loudly (no fall back to CPU)."""

import pytest
import ray
from cluster_helpers import run_driver

from imm_ray import sweep
from imm_ray.sweep import resources


def parse(*argv):
    args = sweep.sweep_parser("x", "x").parse_args(list(argv))
    return args


def nodes(*resource_dicts):
    return lambda: [{"Alive": True, "Resources": r} for r in resource_dicts]


def test_fractional_gpus_map_to_tune_resources(monkeypatch, capsys):
    monkeypatch.setattr(ray, "nodes", nodes({"CPU": 8.0, "GPU": 2.0}))
    monkeypatch.setattr(resources, "autoscaler_node_types", lambda: [])
    args = parse("--gpus-per-trial", "0.25", "--cpus-per-trial", "0.5")
    assert sweep.trial_resources(args) == {"cpu": 0.5, "gpu": 0.25}
    assert capsys.readouterr().out == ""


def test_a_gpu_request_without_gpus_in_the_cluster_fails_instead_of_running_on_cpu(
        monkeypatch):
    monkeypatch.setattr(ray, "nodes", nodes({"CPU": 8.0}))
    monkeypatch.setattr(resources, "autoscaler_node_types", lambda: [])
    with pytest.raises(ValueError, match=r"--cpus-per-trial 1 --gpus-per-trial 1: no node .*at "
                                         r"most 8 CPU and 0 GPU.*--gpus-per-trial 0 runs on CPU"):
        sweep.trial_resources(parse("--gpus-per-trial", "1"))


def test_trial_device_raises_when_torch_sees_no_gpu(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert sweep.trial_device(0).type == "cpu"
    with pytest.raises(sweep.NoGPUError, match="--gpus-per-trial 0.5: .* sees no CUDA device"):
        sweep.trial_device(0.5)
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert sweep.trial_device(0.5).type == "cuda"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_tune_receives_the_requests_and_places_gpu_trials_on_the_gpu_node(loopback_cluster,
                                                                          tmp_path):
    """Two trials of 0.5 GPU + 0.5 CPU share the one (declared) GPU of node 1; inside,
    Ray gives them GPU 0, and sweep.trial_device refuses to fall back to CPU because
    torch (the CPU build) sees no CUDA device."""
    proc, rows = run_driver(loopback_cluster, "resources", "--gpus-per-trial", "0.5",
                            "--cpus-per-trial", "0.5", "--storage-path", str(tmp_path))
    assert len(rows) == 2
    for row in rows:
        assert row["bundles"] == [{"CPU": 0.5, "GPU": 0.5}]
        assert row["gpu_ids"] == ["0"] and row["cuda_visible"] == "0"
        assert row["device"].startswith("NoGPUError: --gpus-per-trial 0.5: this trial was "
                                        "given a GPU")
        assert row["node_resources"]["GPU"] == 1 and "loopback_node_1" in row["node_resources"]
    # node ids in the results: from sweep.report (trial 0) and from run_tuner's
    # callback for a trainable that reports without one (trial 1)
    assert all(row["node_id"] == row["own_node_id"] for row in rows)
    assert len({row["node_id"] for row in rows}) == 1
