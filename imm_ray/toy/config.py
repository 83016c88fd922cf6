"""``ToyConfig``: the logistic toy's problem and evaluation settings.

Settable from the command line (:func:`imm_ray.config.add_dataclass_args`) and from a Tune
trial's config by field name (:func:`imm_ray.config.from_dict`). How models are fitted
(``--l2``, ``--tol``, ...) is :class:`imm_ray.tabular.config.FitConfig`, shared with real
tables. Its defaults were chosen by measurement on the toy (100 seeds, default problem):
``l2 = 1e-3`` keeps the separable tiny-``n`` fits finite (at ``n = 2`` the unpenalised
optimum is at infinity) while leaving ``n = 32`` close to the toy's probe
(docs/lambda_vs_n.md, 'The toy'; test
log-loss of the baseline 0.515 vs the probe's 0.55; IMM ``r = 0.8`` 0.430 vs 0.46;
reverse-KD ``r = 0.8`` 0.505 vs 0.51, worse as ``r`` grows); with ``tol = 1e-7`` every fit
of the default sweep converged.
"""

from __future__ import annotations

from dataclasses import dataclass

from imm_ray.tabular.checks import as_float, as_int
from imm_ray.toy.data import ToyProblem


@dataclass
class ToyConfig:
    weights: tuple[float, ...] = (0.0, 2.0, 1.5, -1.0)
    """True logistic weights (bias, x, extra features...); d = len(weights) - 2 extras."""
    rho: float = 0.0
    """Correlation of each extra feature with x (0: independent, the toy's default setting)."""
    label_noise: float = 0.0
    """Probability of flipping each label."""
    num_bins: int = 4
    """Bins of x forming the empirical groups of the induced model when rho != 0."""
    valid_size: int = 10_000
    """Validation points (the best ratio is chosen on these)."""
    test_size: int = 20_000
    """Test points (reported metrics)."""
    eval_seed: int = 0
    """Seed of the validation and test sets (disjoint streams from training seeds)."""
    quadrature_nodes: int = 64
    """Gauss-Hermite nodes of the exact restricted model."""

    def __post_init__(self):
        if isinstance(self.weights, str) or not hasattr(self.weights, "__iter__"):
            raise ValueError(f"--weights must be a list of numbers, got {self.weights!r}")
        self.weights = tuple(as_float("--weights", w, -1e3, 1e3) for w in self.weights)
        self.rho = as_float("--rho", self.rho, -1.0, 1.0, low_open=True, high_open=True)
        self.label_noise = as_float("--label-noise", self.label_noise, 0.0, 0.5,
                                    high_open=True)
        self.num_bins = as_int("--num-bins", self.num_bins, 1, 10_000)
        self.valid_size = as_int("--valid-size", self.valid_size, 1, 10_000_000)
        self.test_size = as_int("--test-size", self.test_size, 1, 10_000_000)
        self.eval_seed = as_int("--eval-seed", self.eval_seed, 0)
        self.quadrature_nodes = as_int("--quadrature-nodes", self.quadrature_nodes, 1, 1000)
        self.problem()  # at least 2 weights

    def problem(self) -> ToyProblem:
        return ToyProblem(self.weights, self.rho, self.label_noise)
