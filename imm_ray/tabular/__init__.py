"""IMM on classification tables: generic building blocks of the lambda-vs-n experiment.

Nothing here knows the toy or one dataset; the toy
(``imm_ray/experiments/lambda_vs_n/toy/``) and real tables both plug into
:mod:`imm_ray.tabular.trainer` through :class:`~imm_ray.tabular.trainer.CellData`.

- :mod:`~imm_ray.tabular.data`: ``load_table`` (CSV / TSV / Parquet / DataFrame /
  ``sklearn:<name>``), checks and cleaning; ``Table``.
- :mod:`~imm_ray.tabular.encoding`: design rows (standardised on the fitting rows, one-hot).
- :mod:`~imm_ray.tabular.splits`: test / validation / auxiliary / training rows per seed.
- :mod:`~imm_ray.tabular.induced`: the induced model's conditional (pool, groups, neighbours).
- :mod:`~imm_ray.tabular.models`: batched ``LinearSoftmax`` and ``MLP``.
- :mod:`~imm_ray.tabular.objective`: the methods' objectives (losses from :mod:`imm_ray.core`).
- :mod:`~imm_ray.tabular.optim`: batched BFGS and Adam.
- :mod:`~imm_ray.tabular.trainer`: fit, evaluate and rows of one (method, n) cell.
- :mod:`~imm_ray.tabular.cell`: a table's cell (restricted models per seed, ...).
- :mod:`~imm_ray.tabular.config`: ``FitConfig``, ``TabularConfig``;
  :mod:`~imm_ray.tabular.seeding`: streams.

Restricted models for tables: :mod:`imm_ray.restricted.logistic`,
:mod:`imm_ray.restricted.frequency_table`.
"""
