"""A real 3-node Ray cluster on loopback for the cluster tests.

Like cluster.yaml: a head with no CPUs for trials (it holds the GCS and the drivers), node 1
with 1 CPU and 1 declared GPU, node 2 with 1 CPU; both joined with ``ray start --address``.
Started by the first test that needs it and stopped after the last test of this folder (so
it does not hold memory and CPU during the rest of the suite), and in any case when the
session ends, failing or interrupted tests included, by killing exactly its processes
(never ``ray stop``, which would kill every Ray instance on the machine).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imm_ray.cluster import LoopbackCluster

HERE = Path(__file__).resolve().parent
_cluster: LoopbackCluster | None = None


@pytest.fixture
def loopback_cluster() -> LoopbackCluster:
    global _cluster
    if _cluster is None:
        _cluster = LoopbackCluster(cpus=(0, 1, 1), gpus=(0, 1, 0)).start()
    return _cluster


def stop_cluster() -> None:
    global _cluster
    cluster, _cluster = _cluster, None
    if cluster is not None:
        cluster.stop()
        assert not cluster.pids(), "loopback cluster processes left behind"


def pytest_runtest_teardown(item, nextitem):
    if nextitem is None or HERE not in Path(str(nextitem.path)).parents:
        stop_cluster()


def pytest_sessionfinish(session, exitstatus):
    stop_cluster()
