"""The main job on a real multi-node Ray cluster: `sweeps/lambda_vs_n.py --quick` through
RAY_ADDRESS on a head plus two joined nodes, all on 127.0.0.1; trials run on more than one
node and no Ray process listens on, or talks to, anything but loopback."""

import subprocess
import sys
import time

import pandas as pd
import pytest
from cluster_helpers import ROOT, driver_env, off_loopback, sockets_of

from imm_ray import analysis

SWEEP = ROOT / "sweeps" / "lambda_vs_n.py"


@pytest.mark.slow
def test_nodes_are_separate_with_their_own_resources(loopback_cluster):
    nodes = loopback_cluster.node_list
    assert len(nodes) == 3 and len({n["node_id"] for n in nodes}) == 3
    res = {next(k for k in n["resources"] if k.startswith("loopback_node_")): n["resources"]
           for n in nodes}
    assert "CPU" not in res["loopback_node_0"] and "GPU" not in res["loopback_node_0"]
    assert res["loopback_node_1"]["CPU"] == 1 and res["loopback_node_1"]["GPU"] == 1
    assert res["loopback_node_2"]["CPU"] == 1 and "GPU" not in res["loopback_node_2"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_sweep_runs_on_both_nodes_over_loopback_only(loopback_cluster, tmp_path):
    log = tmp_path / "sweep.log"
    seen = []
    with open(log, "w") as out:
        # --no-reuse-actors: each trial gets its own worker, so the sub-second --quick
        # cells cannot all queue on whichever node's worker started first. Four of the
        # twelve cells (a worker start each, ~4 s of CPU) keep the test short.
        proc = subprocess.Popen([sys.executable, str(SWEEP), "--quick", "--no-reuse-actors",
                                 "--sizes", "8", "32", "--methods", "imm", "none",
                                 "--name", "quick", "--storage-path", str(tmp_path)], stdout=out,
                                stderr=subprocess.STDOUT, env=driver_env(loopback_cluster),
                                cwd=tmp_path)
        try:
            while proc.poll() is None:  # sample every socket of the cluster and the driver
                seen += sockets_of([*loopback_cluster.pids(), proc.pid])
                time.sleep(0.5)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert "Started a local Ray instance" not in text  # it joined the cluster

    trials = analysis.load_experiment(tmp_path / "quick")
    assert len(trials) == 4 and trials["node_id"].notna().all()
    trial_nodes = {n["node_id"] for n in loopback_cluster.node_list if "CPU" in n["resources"]}
    assert set(trials["node_id"]) == trial_nodes  # trials ran on both trial nodes
    csv = next(ln.split("results: ", 1)[1] for ln in text.splitlines()
               if ln.startswith("results: "))
    assert len(pd.read_csv(csv)) > 0

    listening = [s for s in seen if s["state"] == "0A"]
    assert listening and any(s["pid"] == proc.pid for s in seen)
    assert off_loopback(seen) == [], off_loopback(seen)[:5]
