"""The main job: how strongly to lean on the restricted model as data grows.

``sweeps/lambda_vs_n.py`` runs it through Ray Tune; :mod:`imm_ray.lambda_vs_n.local` runs
the same cells in this process (a DataFrame and your own restricted model welcome).

- :mod:`~imm_ray.lambda_vs_n.config`: the default grid, ``CellConfig`` (one trial).
- :mod:`~imm_ray.lambda_vs_n.trainable`: ``train_lambda_cell``, the Tune trainable.
- :mod:`~imm_ray.lambda_vs_n.report`, :mod:`~imm_ray.lambda_vs_n.plots`: tables, schedules,
  figures from the rows.
- :mod:`~imm_ray.lambda_vs_n.search`: ``GroupedSearch``, one Optuna search per (method, n).
"""
