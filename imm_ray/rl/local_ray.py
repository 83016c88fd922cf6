"""Algorithms built outside a sweep start the same loopback-only Ray that sweeps start.

``IMMPGConfig().build_algo()`` (or ``IMMPG.from_checkpoint``) with no Ray running would
let Ray's implicit ``ray.init()`` pick this machine's outward address and listen on all
interfaces; :class:`LocalRayOnLoopback`, mixed into the algorithms, starts
:func:`imm_ray.sweep.start_local_ray` (127.0.0.1 only, no dashboard) first. A Ray
that is already running (a sweep's, a cluster's, a test's) is used as it is.
"""

from __future__ import annotations


def ensure_local_ray() -> None:
    """Start the loopback-only local Ray unless Ray is already initialised."""
    import ray

    from imm_ray import sweep

    if not ray.is_initialized():
        sweep.start_local_ray()


class LocalRayOnLoopback:
    """Mix in before an RLlib ``Algorithm`` class: ensures the loopback-only Ray."""

    def __init__(self, *args, **kwargs):
        ensure_local_ray()
        super().__init__(*args, **kwargs)
