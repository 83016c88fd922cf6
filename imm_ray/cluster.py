"""Ray clusters for imm_ray: check a cluster-launcher config as ``ray up`` does, and run a
real multi-node Ray cluster on this machine's loopback interface (tests, CI, benchmark).

A loopback cluster is a head started with ``ray start --head`` plus nodes joined with
``ray start --address``, each with its own CPUs (and optional GPUs) and a custom resource
``loopback_node_<i>``; the commands are those of ``cluster.local.yaml``. Every node runs in
its own process session, so :meth:`LoopbackCluster.stop` kills exactly this cluster's
processes (``ray stop`` would kill every Ray instance on the machine). From Python::

    with LoopbackCluster(cpus=(0, 1, 1)) as cluster:    # head + 2 nodes, ~15 s on 2 cores
        subprocess.run([sys.executable, "sweeps/lambda_vs_n.py", "--quick"],
                       env={**os.environ, **cluster.env()}, check=True)

or from a shell: ``python -m imm_ray.cluster up --cpus 0 1 1`` (prints what to export;
Ctrl-C stops it). ``python -m imm_ray.cluster ray start ...`` is the Ray CLI with node-IP
detection answering 127.0.0.1 (see cluster.local.yaml for why).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from imm_ray.sweep.ray_start import LOOPBACK

REPO = Path(__file__).resolve().parents[1]
CLOUD_CONFIG = REPO / "cluster.yaml"
LOCAL_CONFIG = REPO / "cluster.local.yaml"


def check_launcher_config(path: str | os.PathLike) -> dict:
    """Load a cluster-launcher YAML and run the checks ``ray up`` runs before it contacts a
    cloud: ``yaml.safe_load``, ``prepare_config`` (defaults, node types) and
    ``validate_config`` (Ray's JSON schema and consistency). Returns the prepared config."""
    import yaml
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load(Path(path).read_text())
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


class LoopbackCluster:
    """A Ray cluster of ``len(cpus)`` nodes on 127.0.0.1; a context manager.

    Args:
        cpus: ``--num-cpus`` of node 0 (the head), 1, ... A head with 0 CPUs runs no
            trials, as in cluster.yaml: then every trial node starts its workers cold and
            trials spread over them (the driver's node gets warm workers first).
        gpus: ``--num-gpus`` per node (missing: 0). Ray advertises declared GPUs even
            without hardware, which lets CPU machines test GPU scheduling.
        object_store_bytes: object store size per node (Ray's default is 30% of RAM each).
    """

    def __init__(self, cpus: Sequence[int] = (1, 1), gpus: Sequence[int] = (),
                 object_store_bytes: int = 200_000_000,
                 config: str | os.PathLike = LOCAL_CONFIG):
        if not cpus:
            raise ValueError("cpus: one entry per node, at least the head")
        self.cpus, self.gpus = tuple(cpus), tuple(gpus)
        self.nodes, self.object_store_bytes = len(self.cpus), object_store_bytes
        self.config = Path(config)
        self.token = secrets.token_hex(32)
        self.port: int | None = None
        self.temp_dir: str | None = None
        self.sessions: list[int] = []
        self.node_list: list[dict] = []
        """The nodes once started: ``node_id`` and ``resources`` of each."""

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for a driver (a sweep script, ``ray status``) joining this cluster."""
        return {"RAY_ADDRESS": self.address, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
                "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token,
                "RAY_USAGE_STATS_ENABLED": "0"}

    def start(self, timeout: float = 120) -> LoopbackCluster:
        """Start the head, then join the other nodes; wait until all are alive."""
        import yaml

        commands = yaml.safe_load(self.config.read_text())
        # Short: Ray's Unix socket paths under it must stay below 108 bytes.
        self.temp_dir = tempfile.mkdtemp(prefix="immc_", dir="/tmp")
        self.port = free_port()
        try:
            self._wait(self._start_node(0, commands["head_start_ray_commands"]), timeout)
            for i in range(1, self.nodes):  # one at a time: they share the session folder
                self._wait(self._start_node(i, commands["worker_start_ray_commands"]), timeout)
            self.node_list = self.wait_for_nodes(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, index: int, commands: list[str]):
        env = {**os.environ, **self.env(), "RAY_HEAD_IP": LOOPBACK,
               "IMM_RAY_PORT": str(self.port), "IMM_RAY_TEMP_DIR": self.temp_dir,
               "IMM_RAY_NODE": str(index), "IMM_RAY_NUM_CPUS": str(self.cpus[index]),
               "IMM_RAY_NUM_GPUS": str(self._gpus(index)),
               "IMM_RAY_OBJECT_STORE_BYTES": str(self.object_store_bytes),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        for key in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS"):
            env.pop(key)  # the head command sets the former; `ray start --address` refuses it
        log_path = Path(self.temp_dir, f"start_node_{index}.log")
        with open(log_path, "w") as log:
            proc = subprocess.Popen(["bash", "-c", " && ".join(commands)], env=env, cwd=REPO,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.sessions.append(proc.pid)
        return index, proc, log_path

    @staticmethod
    def _wait(started, timeout: float) -> None:
        index, proc, log_path = started
        code = proc.wait(timeout=timeout)
        if code != 0:
            tail = log_path.read_text()[-2000:]
            raise RuntimeError(f"loopback node {index} failed to start (exit {code}):\n{tail}")

    def _gpus(self, index: int) -> int:
        return self.gpus[index] if index < len(self.gpus) else 0

    def wait_for_nodes(self, timeout: float = 60) -> list[dict]:
        """Block until all nodes are alive in the GCS; returns :meth:`node_info`."""
        return self.node_info(wait_for=self.nodes, timeout=timeout)

    def node_info(self, wait_for: int = 0, timeout: float = 60) -> list[dict]:
        """Alive nodes (``node_id``, ``resources``), asked by a short-lived driver."""
        cmd = [sys.executable, "-m", "imm_ray.cluster", "nodes", "--wait-for", str(wait_for),
               "--timeout", str(timeout)]
        out = subprocess.run(cmd, env={**os.environ, **self.env()}, capture_output=True,
                             text=True, timeout=timeout + 60, cwd=REPO)
        if out.returncode != 0:
            raise RuntimeError(f"listing nodes failed:\n{out.stderr[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    def pids(self) -> list[int]:
        """Live processes of this cluster (every process in its nodes' sessions)."""
        return session_pids(self.sessions)

    def stop(self, grace: float = 2.0) -> None:
        """SIGTERM this cluster's processes, SIGKILL what is left after ``grace`` s."""
        kill_sessions(self.sessions, grace)
        if self.temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> LoopbackCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ----------------------------------------------------------------------- processes


def session_pids(sessions: Iterable[int]) -> list[int]:
    """Live (non-zombie) processes whose session id is in ``sessions``."""
    sessions, found = set(sessions), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            if os.getsid(pid) in sessions and _state(pid) != "Z":
                found.append(pid)
        except OSError:
            continue
    return found


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]


def kill_sessions(sessions: Iterable[int], grace: float = 5.0) -> None:
    """Stop every process of the given sessions: SIGTERM, then SIGKILL after ``grace``."""
    sessions = list(sessions)
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        pids = session_pids(sessions)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.time() + wait
        while pids and time.time() < deadline:
            time.sleep(0.2)
            pids = session_pids(sessions)
        if not pids:
            return
    raise RuntimeError(f"processes of the loopback cluster survived SIGKILL: {pids}")


# ----------------------------------------------------------------------- command line


def ray_cli_on_loopback(argv: list[str]) -> None:
    """Run the Ray CLI with node-IP detection answering 127.0.0.1 (cluster.local.yaml)."""
    import ray._private.services as services

    services.get_node_ip_address = lambda address=None: LOOPBACK
    from ray.scripts.scripts import main

    sys.argv = ["ray", *argv]
    main()


def print_nodes(wait_for: int, timeout: float) -> None:
    """Print the cluster's alive nodes as JSON, waiting for at least ``wait_for``."""
    import ray

    ray.init(address=os.environ["RAY_ADDRESS"], logging_level="ERROR", log_to_driver=False)
    deadline = time.time() + timeout
    while True:
        nodes = [{"node_id": n["NodeID"], "resources": n["Resources"]}
                 for n in ray.nodes() if n["Alive"]]
        if len(nodes) >= wait_for or time.time() > deadline:
            break
        time.sleep(0.5)
    ray.shutdown()
    if len(nodes) < wait_for:
        sys.exit(f"only {len(nodes)} of {wait_for} nodes alive after {timeout} s")
    print(json.dumps(nodes))


def serve(args: argparse.Namespace) -> None:
    """``up``: start a loopback cluster, print how to use it, stop it on Ctrl-C/SIGTERM."""
    cluster = LoopbackCluster(args.cpus, args.gpus)
    for sig in (signal.SIGINT, signal.SIGTERM):  # also when started in the background
        signal.signal(sig, lambda *_: sys.exit(0))
    with cluster:
        print(f"loopback Ray cluster: {cluster.nodes} nodes at {cluster.address}; "
              "in another shell:")
        for key, value in cluster.env().items():
            print(f"export {key}={value}")
        print("Ctrl-C stops it.", flush=True)
        signal.pause()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ray"]:
        return ray_cli_on_loopback(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a loopback cluster until Ctrl-C")
    up.add_argument("--cpus", type=int, nargs="+", default=[0, 1, 1],
                    help="CPUs of node 0 (the head), 1, ...: one entry per node")
    up.add_argument("--gpus", type=int, nargs="*", default=[],
                    help="declared GPUs of node 0, 1, ... (no hardware needed)")
    nodes = sub.add_parser("nodes", help="print RAY_ADDRESS's alive nodes as JSON")
    nodes.add_argument("--wait-for", type=int, default=0)
    nodes.add_argument("--timeout", type=float, default=60)
    sub.add_parser("ray", help="the Ray CLI with node IP 127.0.0.1: ray start ...")
    args = p.parse_args(argv)
    if args.command == "up":
        serve(args)
    else:
        print_nodes(args.wait_for, args.timeout)


if __name__ == "__main__":
    main()
