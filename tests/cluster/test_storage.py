"""A cloud --storage-path without credentials, or a storage path that is not writable,
fails fast with a clear message before Ray or any trial starts, with no network access."""

import os
import socket
import subprocess
import sys
import time

import pytest

from imm_ray import storage, sweep
from imm_ray.cluster import REPO, session_pids

SWEEP = REPO / "sweeps" / "lambda_vs_n.py"


@pytest.fixture
def bare_machine(tmp_path, monkeypatch):
    """No credentials anywhere: empty HOME, no cloud variables, not a cloud instance."""
    for var in list(os.environ):
        if var.startswith(("AWS_", "GOOGLE_", "CLOUDSDK_", "IMM_RAY_")):
            monkeypatch.delenv(var)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(storage, "DMI_DIR", tmp_path / "no_dmi")
    monkeypatch.setattr(storage, "HYPERVISOR_UUID", tmp_path / "no_uuid")
    return tmp_path


@pytest.mark.parametrize("uri,cloud", [("s3://imm-ray-test/runs", "AWS S3"),
                                       ("gs://imm-ray-test/runs", "Google Cloud Storage")])
def test_cloud_uri_without_credentials_fails_with_a_clear_message(bare_machine, uri, cloud):
    with pytest.raises(ValueError, match=f"no {cloud} credentials on this machine") as e:
        sweep.check_storage_path(uri)
    assert "Nothing was started" in str(e.value) and uri in str(e.value)


@pytest.mark.parametrize("setup,expected", [
    ({"env": {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "x"}}, "AWS_ACCESS_KEY_ID"),
    ({"env": {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2"}}, "AWS_CONTAINER_CREDENTIALS"),
    ({"file": (".aws/credentials", "[default]\naws_access_key_id = AKIA\n")}, "credentials"),
    ({"file": (".aws/config", "[profile work]\nsso_session = corp\n"),
      "env": {"AWS_PROFILE": "work"}}, "[profile work]"),
    ({"file": ("no_dmi/sys_vendor", "Amazon EC2\n")}, "EC2 instance profile"),
])
def test_aws_credential_sources_are_found_locally(bare_machine, setup, expected):
    if "file" in setup:
        path, text = setup["file"]
        (bare_machine / path).parent.mkdir(parents=True, exist_ok=True)
        (bare_machine / path).write_text(text)
    source = storage.aws_credentials(setup.get("env", {}), bare_machine)
    assert source is not None and expected in source


def test_an_aws_profile_without_keys_is_not_credentials(bare_machine):
    (bare_machine / ".aws").mkdir()
    (bare_machine / ".aws/config").write_text("[default]\nregion = us-east-1\n")
    assert storage.aws_credentials({}, bare_machine) is None


def test_gcp_credential_sources_are_found_locally(bare_machine):
    assert storage.gcp_credentials({}, bare_machine) is None
    key = bare_machine / "key.json"
    key.write_text("{}")
    assert storage.gcp_credentials({"GOOGLE_APPLICATION_CREDENTIALS": str(key)}, bare_machine)
    adc = bare_machine / ".config/gcloud/application_default_credentials.json"
    adc.parent.mkdir(parents=True)
    adc.write_text("{}")
    assert storage.gcp_credentials({}, bare_machine) == str(adc)


def test_with_credentials_the_bucket_is_probed_and_an_unreachable_one_fails(bare_machine,
                                                                           monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIMMRAYTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with socket.socket() as s:  # a loopback port with nothing listening: no network
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = (f"s3://imm-ray-test/runs?endpoint_override=127.0.0.1:{port}&scheme=http"
           "&region=us-east-1")
    start = time.time()
    with pytest.raises(ValueError, match="is not writable"):
        sweep.check_storage_path(uri)
    assert time.time() - start < 30


def test_opt_out_passes_unchecked(bare_machine, monkeypatch):
    monkeypatch.setenv("IMM_RAY_SKIP_STORAGE_CHECK", "1")
    assert sweep.check_storage_path("hdfs://namenode/runs") == "hdfs://namenode/runs"
    assert sweep.check_storage_path("s3://imm-ray-test/x") == "s3://imm-ray-test/x"


def test_storage_path_defaults_to_imm_ray_storage(monkeypatch):
    monkeypatch.setenv("IMM_RAY_STORAGE", "s3://from-env/runs")
    args = sweep.sweep_parser("x", "x").parse_args([])
    assert args.storage_path == "s3://from-env/runs"


@pytest.mark.slow
def test_sweep_script_fails_before_ray_starts(bare_machine):
    """The real sweep: no credentials / an unwritable folder -> exit 2 in seconds, the
    message on stderr, no Ray process ever started (checked by the process session)."""
    blocker = bare_machine / "file"
    blocker.write_text("x")
    cases = {"s3://imm-ray-test/runs": "no AWS S3 credentials on this machine",
             str(blocker / "runs"): "is not writable"}
    procs = {path: subprocess.Popen(
        [sys.executable, str(SWEEP), "--quick", "--storage-path", path],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=bare_machine,
        env={**os.environ, "RAY_ADDRESS": ""}, start_new_session=True)
        for path in cases}
    for path, message in cases.items():
        out, err = procs[path].communicate(timeout=120)
        assert procs[path].returncode == 2, out + err
        assert message in err and "Traceback" not in err, err
        assert "Started a local Ray instance" not in out + err
        assert not session_pids([procs[path].pid])  # nothing it started is still running
