"""The wiring every sweep script shares, one idea per module (``imm_ray.tune_cli`` is the
facade that re-exports the public names):

- :mod:`~imm_ray.sweep.flags`: the shared flags and their pure checks (nothing is created).
- :mod:`~imm_ray.sweep.resume`: ``--resume`` with the original run's settings.
- :mod:`~imm_ray.sweep.files`: experiment files on a local folder or a cloud URI (pyarrow.fs).
- :mod:`~imm_ray.sweep.ray_start`: a loopback-only local Ray, or joining ``--address``.
- :mod:`~imm_ray.sweep.reaper`: the local Ray goes away when its driver is SIGKILLed.
- :mod:`~imm_ray.sweep.resources`: per-trial resources some node can actually provide.
- :mod:`~imm_ray.sweep.run`: the Tuner (new or restored), interruption and failed trials.
- :mod:`~imm_ray.sweep.console`: the quiet console (one progress line) and ``--verbose``.
- :mod:`~imm_ray.sweep.trial`: what a trial calls (report, rows, its torch device).
- :mod:`~imm_ray.sweep.outputs`: where results go and the lines a sweep ends with.
"""
