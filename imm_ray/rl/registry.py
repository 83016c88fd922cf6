"""Tune registrations that survive a restart of Ray in the same process.

``tune.register_trainable`` and ``tune.register_env`` write into the running Ray session
(before ``ray.init`` they queue until it starts). The queue is emptied once written, so
after ``ray.shutdown()`` and a new ``ray.init()`` in the same process (a notebook, a test
session, a driver that restarts Ray) the new session does not know the names:
``Tuner("IMMPG")`` fails with "Unknown trainable". :func:`keep_registered` runs a
registering function now and again after every ``ray.init``, through the hook list that
Tune's own registry uses to write its queue.
"""

from __future__ import annotations

from collections.abc import Callable

import ray


def keep_registered(register: Callable[[], None]) -> None:
    """``register()`` now and after every later ``ray.init`` in this process."""
    register()
    hooks = ray._private.worker._post_init_hooks  # runs after each ray.init (Tune uses it)
    if register not in hooks:
        hooks.append(register)
