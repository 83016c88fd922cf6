"""The reliability suite: hostile input and faults, one test file per area
(``test_<area>_reliability.py``). Shared pieces for every area's file:

- ``reliability_helpers``: run a sweep or the minimal driver in a subprocess
  (``run_sweep``, ``run_driver``) and check its console (``assert_quiet_console``: the
  line budget, ``results:``/``plot:`` last, no Tune boxes or colour codes);
- ``reliability_drivers.py``: a minimal sweep on ``imm_ray.sweep``;
- the ``no_ray_left`` fixture (autouse here): a test that starts Ray in this process must
  shut it down, so a rejected input can be asserted to have started nothing.
"""

import pytest


@pytest.fixture(autouse=True)
def no_ray_left():
    yield
    import sys

    if "ray" in sys.modules:
        import ray

        assert not ray.is_initialized(), "the test left Ray running in the test process"
