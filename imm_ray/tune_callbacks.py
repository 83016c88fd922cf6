"""Tune callbacks every imm_ray sweep gets from :func:`imm_ray.tune_cli.run_tuner`."""

from __future__ import annotations

from ray.tune import Callback


class NodeIdCallback(Callback):
    """Adds ``node_id`` (the Ray node a trial ran on) to results that lack it.

    :func:`imm_ray.tune_cli.report` already adds it; this covers trainables that report
    otherwise (RLlib algorithms). Tune's own ``node_ip`` and ``hostname`` are the same for
    two Ray nodes of one machine, so they cannot tell nodes apart. Tune lets callbacks
    modify a result in place before it is logged and stored.
    """

    def __init__(self):
        self._nodes: dict[str, str | None] = {}

    def on_trial_result(self, iteration, trials, trial, result, **info):
        actor = trial.temporary_state.ray_actor
        if "node_id" in result or actor is None:
            return
        key = actor._actor_id.hex()
        if key not in self._nodes:
            self._nodes[key] = actor_node_id(key)
        if self._nodes[key]:
            result["node_id"] = self._nodes[key]


def actor_node_id(actor_id: str) -> str | None:
    """The node of a live actor from Ray's actor table (GCS; no dashboard needed)."""
    try:
        from ray._private.state import actors

        return actors(actor_id=actor_id)["Address"]["NodeID"] or None
    except Exception:  # an internal API: a missing node id rather than a failed sweep
        return None
