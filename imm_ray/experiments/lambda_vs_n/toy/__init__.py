"""The logistic-regression toy (docs/lambda_vs_n.md), on the generic tabular trainer.
Modules of ``imm_ray.experiments.lambda_vs_n.toy``:

- :mod:`.data`: ``ToyProblem``, seeded nested datasets, held-out sets, the empirical
  induced-model weights.
- :mod:`.trainer`: ``cell_data`` (a cell's batch for :mod:`imm_ray.tabular.trainer`) and
  ``train_cell`` (all seeds x ratios of one method and n).
- Its settings are ``ToyConfig`` in :mod:`imm_ray.experiments.lambda_vs_n.config`.
- The exact restricted model is
  :class:`imm_ray.restricted.logistic_bayes.LogisticBayesRestricted`.
"""
