"""The logistic-regression toy of IMM.md section 7.1: data, vectorised trainer, config.

- :mod:`imm_ray.toy.data`: ``ToyProblem``, seeded nested datasets, held-out sets, the
  empirical induced-model weights.
- :mod:`imm_ray.toy.trainer`: ``fit_models`` (one batched BFGS fit of many models),
  ``evaluate``, ``train_cell`` (a sweep cell: all seeds x ratios of one method and n).
- :mod:`imm_ray.toy.config`: ``ToyConfig``.
- The exact restricted model is :class:`imm_ray.restricted.logistic_bayes.LogisticBayesRestricted`.
"""

from imm_ray.toy.config import ToyConfig
from imm_ray.toy.data import ToyData, ToyProblem, sample, sample_batch
from imm_ray.toy.trainer import METHODS, ROW_FIELDS, evaluate, fit_models, train_cell

__all__ = ["METHODS", "ROW_FIELDS", "ToyConfig", "ToyData", "ToyProblem", "evaluate",
           "fit_models", "sample", "sample_batch", "train_cell"]
