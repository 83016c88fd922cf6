"""The logistic-regression toy (docs/lambda_vs_n.md), on the generic tabular trainer.

- :mod:`imm_ray.toy.data`: ``ToyProblem``, seeded nested datasets, held-out sets, the
  empirical induced-model weights.
- :mod:`imm_ray.toy.trainer`: ``cell_data`` (a cell's batch for :mod:`imm_ray.tabular.trainer`)
  and ``train_cell`` (all seeds x ratios of one method and n).
- :mod:`imm_ray.toy.config`: ``ToyConfig``.
- The exact restricted model is :class:`imm_ray.restricted.logistic_bayes.LogisticBayesRestricted`.
"""

from imm_ray.toy.config import ToyConfig
from imm_ray.toy.data import ToyData, ToyProblem, sample, sample_batch
from imm_ray.toy.trainer import cell_data, design, train_cell

__all__ = ["ToyConfig", "ToyData", "ToyProblem", "cell_data", "design", "sample",
           "sample_batch", "train_cell"]
