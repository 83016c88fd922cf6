"""The shared sweep wiring against hostile input and faults: every bad flag stops the sweep
before Ray starts naming the flag; nothing hangs (an address nobody answers, a trial no
node can run); failed and interrupted sweeps exit non-zero with clean messages; a
SIGKILLed driver leaves no Ray process behind; a resume keeps the original settings,
local or cloud (pyarrow.fs); the console stays quiet.

The end-to-end cases run tests/reliability/reliability_drivers.py (a minimal sweep on
imm_ray.sweep) in a subprocess with its own local Ray.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray
from reliability_helpers import (
    DRIVER,
    assert_quiet_console,
    clean_env,
    console_lines,
    ctrl_c_once,
    run_driver,
    wait_for,
)

from imm_ray import sweep
from imm_ray.cluster import CLOUD_CONFIG
from imm_ray.sweep import files, flags, reaper, resources
from imm_ray.sweep.ray_start import RayStartError


def parser():
    p = sweep.sweep_parser("demo", "demo")
    p.add_argument("--seeds", type=int, default=3)
    return p


def rejected(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        sweep.parse_sweep_args(parser(), argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err, err
    assert not ray.is_initialized()
    return err


# ----------------------------------------------------------------------- flags


@pytest.mark.parametrize("name", ["../escaped", "a/b", "..", ".", "", "  ", "a\\b"])
def test_a_name_that_leaves_the_storage_path_is_refused(name, tmp_path, capsys):
    storage = tmp_path / "runs"
    rejected(["--name", name, "--storage-path", str(storage)], "--name", capsys)
    assert list(tmp_path.iterdir()) == []  # nothing created, inside or outside


@pytest.mark.parametrize("address", ["nonsense", "127.0.0.1", "host:0", "host:99999",
                                     "127.0.0.1:port", "ray://"])
def test_a_malformed_address_is_refused_before_ray_starts(address, tmp_path, capsys):
    rejected(["--address", address, "--storage-path", str(tmp_path)],
             f"--address {address!r} must be host:port", capsys)


@pytest.mark.parametrize("flag,value", [("--cpus-per-trial", "nan"), ("--gpus-per-trial", "-1"),
                                        ("--max-failures", "-1"), ("--max-concurrent", "0")])
def test_bad_shared_flags_name_the_flag(flag, value, tmp_path, capsys):
    rejected([flag, value, "--storage-path", str(tmp_path)], flag, capsys)


def test_an_address_nobody_answers_fails_within_seconds_naming_it(tmp_path, capsys):
    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = sweep.parse_sweep_args(parser(), ["--address", f"127.0.0.1:{port}",
                                                "--storage-path", str(tmp_path)])
    start = time.time()
    with pytest.raises(SystemExit) as e:
        sweep.init_ray(args)
    err = capsys.readouterr().err
    assert e.value.code == 2 and time.time() - start < 10
    assert f"--address 127.0.0.1:{port}: cannot connect" in err and not ray.is_initialized()


def test_something_that_is_not_ray_at_the_address_is_named(tmp_path):
    with socket.socket() as server:  # accepts, but answers nothing
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = f"127.0.0.1:{server.getsockname()[1]}"
        with pytest.raises(RayStartError, match=f"--address {address}: something listens "
                                                "there but"):
            sweep.probe_address(address, timeout=1.0)


# ----------------------------------------------------------------------- resources


def test_a_request_no_node_can_serve_is_refused_naming_the_flags():
    nodes = [{"CPU": 2.0}, {"CPU": 4.0, "GPU": 1.0}]
    assert resources.check_feasible({"CPU": 4, "GPU": 1}, nodes) == "nodes"
    with pytest.raises(ValueError, match=r"--cpus-per-trial 1000 --gpus-per-trial 0: no node "
                                         r".*2 node\(s\), at most 4 CPU and 1 GPU each"):
        resources.check_feasible({"CPU": 1000, "GPU": 0}, nodes)
    with pytest.raises(ValueError, match="--gpus-per-trial 2"):
        resources.check_feasible({"CPU": 1, "GPU": 2}, nodes)
    assert resources.check_feasible({"CPU": 1000, "GPU": 0}, nodes,
                                    env={resources.SKIP_ENV: "1"}) == "skipped"


def test_an_autoscaler_node_type_that_fits_lets_the_sweep_wait_for_it(capsys):
    """cluster.yaml as ``ray up`` writes it on the head: a 0-CPU head and no workers yet;
    one GPU fits its gpu_worker type, 1000 CPUs fit nothing."""
    types = resources.bootstrap_node_types(CLOUD_CONFIG)
    assert {"CPU": 4.0, "GPU": 1.0} in types and {"CPU": 0.0} in types
    head_only = [{"CPU": 0.0}]
    assert resources.check_feasible({"CPU": 1, "GPU": 1}, head_only, types) == "autoscaler"
    assert "waiting for the autoscaler" in capsys.readouterr().out
    with pytest.raises(ValueError, match="autoscaler node types: 3 node"):
        resources.check_feasible({"CPU": 1000, "GPU": 0}, head_only, types)


# ----------------------------------------------------------------------- resume


def started(storage: str, *argv):
    """A new sweep's args with its sweep_args.json and a tuner.pkl, as run_tuner leaves it."""
    args = sweep.parse_sweep_args(parser(), [*argv, "--storage-path", storage])
    sweep.reserve_experiment(args, {"cpu": 1, "gpu": 0})
    files.write_text(files.join(sweep.experiment_uri(args), flags.TUNER_FILE), "")
    return args


def test_resume_on_cloud_storage_reads_the_original_settings_through_pyarrow(
        tmp_path, monkeypatch, capsys):
    """A file:// URI treated as cloud storage: everything goes through pyarrow.fs."""
    for module in (files, flags):
        monkeypatch.setattr(module, "is_uri", lambda p: "://" in p)
    storage = f"file://{tmp_path}/bucket"
    first = started(storage, "--seeds", "7")
    assert first.storage_path == storage and (tmp_path / "bucket" / first.name).is_dir()
    args = sweep.parse_sweep_args(parser(), ["--resume", "--storage-path", storage])
    assert args.name == first.name and args.seeds == 7  # the newest, listed via pyarrow
    assert "original settings" in capsys.readouterr().out
    rejected(["--resume", "--seeds", "8", "--storage-path", storage], "--seeds 8 (original 7)",
             capsys)


def test_resume_command_reproduces_the_run_with_resume(tmp_path):
    args = sweep.parse_sweep_args(parser(), ["--storage-path", str(tmp_path), "--name", "x"])
    cmd = sweep.resume_command(args, ["--seeds", "4", "--name=x", "--storage-path", "rel",
                                         "--quick"], script="sweeps/demo.py")
    assert cmd == (f"python sweeps/demo.py --seeds 4 --quick --storage-path {tmp_path} "
                   "--name x --resume")


# ----------------------------------------------------------------------- processes


def test_the_reaper_stops_only_the_recorded_processes(tmp_path):
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        known = {victim.pid: reaper._started(victim.pid)}
        (tmp_path / reaper.RECORD).write_text(json.dumps(known))
        assert reaper.clean(str(tmp_path)) == [victim.pid]
        assert victim.wait(timeout=10) is not None and bystander.poll() is None
        assert reaper.stop({bystander.pid: 12345}) == []  # a recycled pid: start time differs
        assert bystander.poll() is None
    finally:
        for p in (victim, bystander):
            p.kill()
            p.wait()
    with pytest.raises(SystemExit, match="no imm_ray_processes.json"):
        reaper.clean(str(tmp_path / "elsewhere"))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_sigkilled_driver_leaves_no_ray_process_behind(tmp_path):
    log = tmp_path / "work.log"
    proc = subprocess.Popen([sys.executable, str(DRIVER), "--mode", "slow", "--trials", "1",
                             "--sleep", "120", "--work-log", str(log), "--storage-path",
                             str(tmp_path / "runs")], env=clean_env(), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_for(lambda: log.exists() and "start 0" in log.read_text(), 180)
        record = newest_record(proc.pid)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    known = {int(p): t for p, t in json.loads(record.read_text()).items()}
    assert len(known) >= 6  # GCS, raylet, agents, the trial's worker, ...
    assert wait_for(lambda: not any(reaper._alive(p, t) for p, t in known.items()), 30), \
        [p for p, t in known.items() if reaper._alive(p, t)]


def newest_record(driver_pid: int) -> Path:
    """The process record of the Ray session this driver started (its session folder
    name ends with the driver's pid)."""
    sessions = sorted(Path("/tmp/ray").glob(f"session_*_{driver_pid}"))
    assert sessions, "the driver started no Ray session"
    return sessions[-1] / reaper.RECORD


# ----------------------------------------------------------------------- end to end


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_failed_trials_exit_non_zero_with_one_clean_line_each(tmp_path):
    proc = run_driver("--mode", "fail", "--trials", "2", "--max-failures", "0",
                      "--storage-path", tmp_path, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout[-3000:]
    lines = console_lines(proc.stdout)
    for i in (0, 1):
        assert any(ln.endswith(f"ValueError: boom {i}: lr must be > 0, got {-i}")
                   for ln in lines), proc.stdout[-3000:]
    assert "\x1b[" not in proc.stdout and "ImplicitFunc" not in proc.stdout
    assert lines[-1] == "error: every trial failed; nothing to summarise"
    assert not any(ln.startswith("results:") for ln in lines)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_request_no_node_can_serve_stops_the_sweep_in_seconds(tmp_path):
    start = time.time()
    proc = run_driver("--cpus-per-trial", "1000", "--storage-path", tmp_path, cwd=tmp_path,
                      timeout=120)
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert "error: --cpus-per-trial 1000 --gpus-per-trial 0: no node" in proc.stdout
    assert time.time() - start < 120  # Ray's start-up, not a wait for trials


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_ctrl_c_exits_130_with_the_resume_command_which_finishes_the_sweep(tmp_path):
    """SIGINT to the driver's process group, as a terminal's Ctrl-C: no `results:` line,
    exit 130 and the command to continue; that command finishes the sweep without running
    the finished trial again, and its console is quiet."""
    log = tmp_path / "work.log"
    argv = [str(DRIVER), "--mode", "slow", "--trials", "3", "--sleep", "2",
            "--max-concurrent", "1", "--work-log", str(log), "--name", "ctrlc",
            "--storage-path", str(tmp_path / "runs")]
    # "done 0" is written before the trial reports; only once trial 1 has started (one
    # trial at a time) has Tune recorded trial 0 as finished. Interrupting between the
    # two would rightly re-run trial 0 on resume.
    returncode, out = ctrl_c_once(argv, log, "start 1", tmp_path)
    assert returncode == 130, out[-3000:]
    assert "results are PARTIAL" in out and not any(
        ln.startswith("results:") for ln in console_lines(out))
    command = out.strip().splitlines()[-1].strip()
    assert command.startswith("python ") and command.endswith("--name ctrlc --resume")
    argv_again = command.split()[1:]  # no spaces in these paths
    resumed = subprocess.run([sys.executable, *argv_again], env=clean_env(), cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    lines = assert_quiet_console(resumed, budget=8)
    assert lines[-1].startswith("results: ") and "3 rows" in lines
    assert log.read_text().count("start 0") == 1  # the finished trial did not run again


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_verbose_restores_tunes_output(tmp_path):
    proc = run_driver("--trials", "2", "--verbose", "--storage-path", tmp_path, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Trial status" in proc.stdout and "started with configuration" in proc.stdout
