"""The embedded default: a sweep's local Ray (sweep.init_ray without --address) listens
on, and talks to, nothing but loopback."""

import subprocess
import sys
import time

import pytest
from cluster_helpers import driver_env, off_loopback, sockets_of

from imm_ray.cluster import session_pids

SCRIPT = """
import argparse, ray
from imm_ray import sweep
sweep.init_ray(argparse.Namespace(address=None), num_cpus=1)
ray.get(ray.remote(lambda: 0).remote())  # a worker is up too
print("NODE_IP", *{n["NodeManagerAddress"] for n in ray.nodes()}, flush=True)
input()  # keep Ray up while the test reads its sockets
"""


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_local_ray_stays_on_loopback():
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=driver_env(),
                            start_new_session=True)  # its Ray processes share its session
    try:
        line = proc.stdout.readline()
        while line and not line.startswith("NODE_IP"):
            line = proc.stdout.readline()
        assert line.split() == ["NODE_IP", "127.0.0.1"], line
        seen = []
        for _ in range(4):
            seen += sockets_of(session_pids([proc.pid]))
            time.sleep(0.5)
        assert any(s["state"] == "0A" for s in seen)  # Ray's servers were seen listening
        assert off_loopback(seen) == [], off_loopback(seen)[:5]
    finally:
        proc.communicate("\n", timeout=60)
