"""The grid of a lambda-vs-n sweep and the resolved config of one of its cells.

A *cell* is one (method, n): every seed x ratio fitted in one batch, on the toy
(:class:`ToyConfig`, below) or on a table
(:class:`imm_ray.tabular.config.TabularConfig`), with :class:`imm_ray.tabular.config.FitConfig`.
:class:`CellConfig` is what a Tune trial resolves its config dict into (and saves beside its
rows); :func:`check_grid` validates the sweep-level values (sizes, ratios, methods, seeds)
for the sweep script and the in-process runner alike.

``ToyConfig``: the logistic toy's problem and evaluation settings (the experiment's default
data). Settable from the command line (:func:`imm_ray.config.add_dataclass_args`) and from a Tune
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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from imm_ray.checks import as_choice, as_float, as_int
from imm_ray.config import from_dict, require_unique
from imm_ray.tabular.config import FitConfig, TabularConfig

if TYPE_CHECKING:
    from imm_ray.experiments.lambda_vs_n.toy.data import ToyProblem
from imm_ray.tabular.config import METHODS

DEFAULT_RATIOS = (0.0, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
"""Ratios ``r = lambda / (1 + lambda)`` of the default grid: 0, then about uniform in
``log lambda`` (steps of 0.6-1.6) from ``lambda = 0.11`` to ``999``. On the toy IMM's best
ratio is inside this range at every default n (0.995 at n = 2-4, 0.9 at n = 50)."""
TOY_SIZES = (2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 22, 25, 28, 30, 32, 35, 38, 41,
             44, 47, 50)
"""Default training sizes on the toy."""
OPTUNA_TOY_SIZES = (2, 3, 4, 6, 8, 12, 16, 24, 32, 50)
"""Default toy sizes with ``--search optuna`` (fewer sizes, more ratios tried per size)."""
QUICK_TOY_SIZES = (2, 8, 32)

ORDER = ("none", "imm", "reverse_kd", "noising", "interpolate", "restricted")
"""The order methods appear in in tables and figures."""


def table_sizes(max_n: int, count: int = 8, smallest: int = 4) -> tuple[int, ...]:
    """``count`` training sizes from ``smallest`` to ``max_n``, about geometric (the default
    on a table: n doubles from a handful of rows to the whole training pool)."""
    smallest = min(smallest, max_n)
    if count == 1 or max_n == smallest:
        return (max_n,)
    ratio = (max_n / smallest) ** (1 / (count - 1))
    return tuple(sorted({min(max_n, round(smallest * ratio**k)) for k in range(count)}))


def check_grid(sizes: Sequence[int], ratios: Sequence[float], methods: Sequence[str],
               seeds: int) -> None:
    """ValueError naming the flag for a bad sweep grid (the table checks its own sizes)."""
    for n in sizes:
        as_int("--sizes", n, 2)
    require_unique("--sizes", list(sizes))
    if not ratios:
        raise ValueError("--ratios must not be empty")
    for r in ratios:
        as_float("--ratios", r, 0.0, 1.0, high_open=True)
    require_unique("--ratios", [float(r) for r in ratios])
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"--methods: unknown {unknown}; choose from {list(METHODS)} "
                         "('interpolate' comes with 'none')")
    require_unique("--methods", list(methods))
    as_int("--seeds", seeds, 1, 100_000)


SEARCHES = ("grid", "optuna")
"""--search: every ratio, or OptunaSearch per (method, n)."""


@dataclass
class LambdaSweepConfig:
    sizes: tuple[int, ...] = ()
    """Training sizes n (each >= 2); empty: the toy's 25 sizes 2..50 (10 with --search
    optuna, 3 with --quick), or on a table 8 sizes from 4 to its training pool (3 quick)."""
    ratios: tuple[float, ...] = DEFAULT_RATIOS
    """Ratios r = lambda / (1 + lambda) of the grid (and of interpolate), each in [0, 1)."""
    methods: tuple[str, ...] = ("imm", "noising", "reverse_kd", "none")
    """Training methods; 'none' also yields 'interpolate' (and, on a table, 'restricted')."""
    seeds: int = 100
    """Training seeds per (method, ratio, n): seeds 0..seeds-1 (a seed fixes its data)."""
    search: str = "grid"
    """'grid': every ratio; 'optuna': OptunaSearch for the best r per (method, n)."""
    optuna_trials: int = 6
    """With --search optuna: trials (ratios tried) per (method, n)."""
    optuna_max_ratio: float = 0.999
    """With --search optuna: ratios are searched in [0, this]."""

    def __post_init__(self):
        check_grid(self.sizes, self.ratios, self.methods, self.seeds)
        self.sizes = tuple(as_int("--sizes", n) for n in self.sizes)
        self.ratios = tuple(as_float("--ratios", r) for r in self.ratios)
        self.seeds = as_int("--seeds", self.seeds)
        self.search = as_choice("--search", self.search, SEARCHES)
        self.optuna_trials = as_int("--optuna-trials", self.optuna_trials, 1, 1000)
        self.optuna_max_ratio = as_float("--optuna-max-ratio", self.optuna_max_ratio, 0.0,
                                         1.0, low_open=True, high_open=True)


@dataclass
class CellConfig:
    """One trial's cell, resolved from its Tune config (saved as ``resolved_config.json``)."""

    method: str
    n: int
    seeds: int
    """Seeds 0 .. seeds - 1."""
    ratios: tuple[float, ...]
    """The ratios fitted (one, under ``--search optuna``); ``none`` is evaluated at them."""
    fit: FitConfig
    toy: ToyConfig | None = None
    table: TabularConfig | None = None
    dataset_sha256: str = ""
    """sha256 of the table (checked in the trial: a changed file is refused)."""

    def __post_init__(self):
        check_grid([self.n], self.ratios, [self.method], self.seeds)
        self.n, self.seeds = as_int("--sizes", self.n), as_int("--seeds", self.seeds)
        self.ratios = tuple(as_float("--ratios", r) for r in self.ratios)
        if (self.toy is None) == (self.table is None):
            raise ValueError("a cell runs on exactly one of the toy or a table")


def cell_config(config: Mapping) -> CellConfig:
    """A Tune trial's config dict -> :class:`CellConfig` (``ratio`` from a searcher replaces
    ``ratios`` for the trained methods; ``none`` keeps the grid for ``interpolate``)."""
    known = {f.name for f in fields(CellConfig)} | {"ratio"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"unknown cell config keys {unknown}; known: {sorted(known)}")
    ratios = list(config["ratios"])
    if "ratio" in config and config["method"] != "none":
        ratios = [config["ratio"]]
    return CellConfig(
        method=config["method"], n=config["n"], seeds=config["seeds"], ratios=tuple(ratios),
        fit=from_dict(FitConfig, dict(config.get("fit") or {})),
        toy=None if config.get("toy") is None else from_dict(ToyConfig, dict(config["toy"])),
        table=None if config.get("table") is None else from_dict(TabularConfig,
                                                                 dict(config["table"])),
        dataset_sha256=config.get("dataset_sha256", ""))


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
        if len(self.weights) < 3:
            raise ValueError(f"--weights needs at least 3 numbers (the bias, the weight of x, "
                             f"and one weight per extra feature the restricted model does not "
                             f"see; at least one), got {list(self.weights)}")
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
        from imm_ray.experiments.lambda_vs_n.toy.data import ToyProblem  # torch: in trials

        return ToyProblem(self.weights, self.rho, self.label_noise)
