"""The algorithms and the grid env stay known to Tune after Ray restarts in one process
(Tune writes a registration into one Ray session only)."""

import ray
from ray.tune.registry import ENV_CREATOR, _global_registry, get_trainable_cls

from imm_ray import sweep
from imm_ray.rl import IMMPG, IMMPPO


def test_registrations_survive_a_ray_restart():
    ray.shutdown()
    try:
        for _ in range(2):  # the second session is the one Tune alone would leave empty
            sweep.start_local_ray(num_cpus=1, log_to_driver=False, configure_logging=False)
            assert get_trainable_cls("IMMPG") is IMMPG
            assert get_trainable_cls("IMMPPO") is IMMPPO
            assert _global_registry.contains(ENV_CREATOR, "MountainGrid-v0")
            ray.shutdown()
    finally:
        ray.shutdown()
