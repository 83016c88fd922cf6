"""The name of the induced-policy estimators before they were generalised: the enumerated
tabular estimator is :class:`imm_ray.rl.induced.EnumeratedEstimator` (``TabularExtension``
here and there); every estimator lives in :mod:`imm_ray.rl.induced`."""

from imm_ray.rl.induced import EnumeratedEstimator, TabularExtension

__all__ = ["EnumeratedEstimator", "TabularExtension"]
