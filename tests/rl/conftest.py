"""Fixtures of the RL tests: a local Ray (loopback, no dashboard) per test module, shut
down afterwards so later test modules (which check Ray is not running) start clean.
``build_algo()`` starts Ray on its own when none is running, so tests that build an
algorithm ask for this fixture."""

import pytest

from imm_ray import tune_cli


@pytest.fixture(scope="module")
def ray_local():
    import ray

    if not ray.is_initialized():
        tune_cli.start_local_ray(num_cpus=2, log_to_driver=False, configure_logging=False)
    yield ray
    if ray.is_initialized():
        ray.shutdown()
