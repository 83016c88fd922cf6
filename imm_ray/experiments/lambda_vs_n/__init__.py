"""The main job: how strongly to lean on the restricted model as data grows.

``sweeps/lambda_vs_n.py`` runs it through Ray Tune; :mod:`.local` runs the same cells in
this process (a DataFrame and your own restricted model welcome). Modules of
``imm_ray.experiments.lambda_vs_n``:

- :mod:`.config`: the default grid, ``CellConfig`` (one trial), the method order.
- :mod:`.toy`: the logistic toy it runs by default.
- :mod:`.trainable`: ``train_lambda_cell``, the Tune trainable.
- :mod:`.report`, :mod:`.plots`: tables, schedules, figures from the rows.
- :mod:`.search`: ``GroupedSearch``, one Optuna search per (method, n).
- :mod:`.cli`: the sweep's flags.
"""
