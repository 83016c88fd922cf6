"""Per-trial resources that some node of the cluster can provide, checked before fitting.

A trial asking for more CPUs or GPUs than any single node has stays PENDING forever in
Tune. :func:`trial_resources` therefore compares ``--cpus-per-trial`` /
``--gpus-per-trial`` with every alive node (one trial runs on one node) and fails fast,
naming the flag and the largest node, unless a node that *could be added* fits:

- an autoscaler's node types: the cluster config it reports to the GCS (autoscaler v2,
  KubeRay), or ``~/ray_bootstrap_config.yaml``, which ``ray up`` writes on the head node
  where sweeps run (``ray attach`` / ``ray job submit``); node types with
  ``max_workers: 0`` do not count. Then the sweep starts and waits for the autoscaler,
  with a notice.
- ``IMM_RAY_SKIP_RESOURCE_CHECK=1``: only a warning (an autoscaler this check cannot see).

A GPU request on a cluster without GPUs is an error too (no silent fall back to CPU):
pass ``--gpus-per-trial 0`` to run on CPU.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

BOOTSTRAP_CONFIG = Path("~/ray_bootstrap_config.yaml")
SKIP_ENV = "IMM_RAY_SKIP_RESOURCE_CHECK"


class InfeasibleResources(ValueError):
    """No node has, or can be added with, the resources one trial asks for."""


def trial_resources(args: argparse.Namespace) -> dict[str, float]:
    """Tune resources per trial, ``{"cpu": ..., "gpu": ...}``, after checking that a
    node of the joined / started Ray cluster (or of its autoscaler) can run one trial."""
    import ray

    request = {"CPU": float(args.cpus_per_trial), "GPU": float(args.gpus_per_trial)}
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    check_feasible(request, nodes, autoscaler_node_types())
    return {"cpu": request["CPU"], "gpu": request["GPU"]}


def check_feasible(request: Mapping[str, float], nodes: Iterable[Mapping[str, float]],
                   node_types: Iterable[Mapping[str, float]] = (),
                   env: Mapping[str, str] | None = None) -> str:
    """``"nodes"`` if an alive node fits ``request``, ``"autoscaler"`` if only a node type
    that can be added does (a notice is printed), ``"skipped"`` with the override; else
    :class:`InfeasibleResources` naming the flags and the largest node."""
    env = os.environ if env is None else env
    nodes, node_types = list(nodes), list(node_types)
    if any(_fits(request, n) for n in nodes):
        return "nodes"
    if any(_fits(request, t) for t in node_types):
        print(f"notice: no node has {_show(request)} yet; waiting for the autoscaler to add one")
        return "autoscaler"
    message = (f"--cpus-per-trial {request['CPU']:g} --gpus-per-trial {request['GPU']:g}: no node "
               f"of the Ray cluster can run one trial ({_largest(nodes)}"
               f"{'; autoscaler node types: ' + _largest(node_types) if node_types else ''}); "
               "trials would wait forever. Ask for less"
               f"{' (--gpus-per-trial 0 runs on CPU)' if request['GPU'] > 0 else ''}, or join "
               f"a larger cluster ({SKIP_ENV}=1 turns this check into a warning)")
    if env.get(SKIP_ENV):
        print(f"warning: {message}")
        return "skipped"
    raise InfeasibleResources(message)


def _fits(request: Mapping[str, float], node: Mapping[str, float]) -> bool:
    return all(node.get(k, 0.0) >= v for k, v in request.items() if v > 0)


def _show(resources: Mapping[str, float]) -> str:
    return ", ".join(f"{resources.get(k, 0.0):g} {k}" for k in ("CPU", "GPU"))


def _largest(nodes: list[Mapping[str, float]]) -> str:
    if not nodes:
        return "no nodes"
    cpu = max(n.get("CPU", 0.0) for n in nodes)
    gpu = max(n.get("GPU", 0.0) for n in nodes)
    return f"{len(nodes)} node(s), at most {cpu:g} CPU and {gpu:g} GPU each"


def autoscaler_node_types() -> list[dict[str, float]]:
    """Resources of the node types an autoscaler may add (see module doc); [] if none."""
    return _reported_node_types() or bootstrap_node_types(BOOTSTRAP_CONFIG.expanduser())


def _reported_node_types() -> list[dict[str, float]]:
    try:
        from ray._private.state import state

        config = state.get_cluster_config()  # autoscaler v2 / KubeRay report theirs
    except Exception:  # an internal API: no answer means "no autoscaler seen"
        return []
    if config is None:
        return []
    return [{k: float(v) for k, v in g.resources.items()} for g in config.node_group_configs
            if g.max_count != 0]


def bootstrap_node_types(path: Path) -> list[dict[str, float]]:
    """Node types of a cluster-launcher config (``ray up`` writes it on the head)."""
    import yaml

    if not path.is_file():
        return []
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []
    types = config.get("available_node_types") or {}
    head = config.get("head_node_type")
    return [{k: float(v) for k, v in (t.get("resources") or {}).items()}
            for name, t in types.items()
            if name == head or t.get("max_workers", config.get("max_workers", 0)) != 0]
