"""Settings of the tabular lambda-vs-n experiment: how models are fitted, and which table,
columns, splits, restricted model and induced model a cell uses.

Both dataclasses are settable from the command line (:func:`imm_ray.config.add_dataclass_args`:
``--l2``, ``--restricted-kind``, ...) and from a Tune trial's config by field name, and
validate every value where it enters (``__post_init__``), so a bad value stops the sweep
before Ray starts. Numbers may be Python, numpy or 0-d tensor scalars.
"""

from __future__ import annotations

from dataclasses import dataclass

from imm_ray.checks import as_choice, as_float, as_int, as_names

METHODS = ("none", "imm", "reverse_kd", "noising")
"""Training methods; ``interpolate`` is added at evaluation from the ``none`` fits."""
MODELS = ("linear", "mlp")
RESTRICTED_SOURCES = ("aux", "train")
RESTRICTED_KINDS = ("auto", "logistic", "frequency")
INDUCED_KINDS = ("auto", "pool", "groups", "neighbours")
MISSING = ("drop", "error")


@dataclass
class FitConfig:
    model: str = "linear"
    """Full model: 'linear' (multinomial logistic regression, batched BFGS) or 'mlp'
    (one tanh hidden layer, batched Adam)."""
    l2: float = 1e-3
    """L2 penalty 0.5 * l2 * |params|^2 (bias included) added to every method's objective."""
    max_iters: int = 300
    """Cap on BFGS loss evaluations per model (linear)."""
    tol: float = 1e-7
    """A model has converged when the gradient norm of its objective is below this."""
    max_pairs: int = 250_000
    """Models are fitted in chunks of at most this many (model, i, j) IMM/noising pairs."""
    hidden: int = 16
    """Hidden width of the MLP."""
    epochs: int = 500
    """Full-batch Adam steps of the MLP."""
    lr: float = 0.01
    """Adam learning rate of the MLP."""

    def __post_init__(self):
        self.model = as_choice("--model", self.model, MODELS)
        self.l2 = as_float("--l2", self.l2, 0.0, 100.0)
        self.max_iters = as_int("--max-iters", self.max_iters, 1, 100_000)
        # A looser tolerance stops fits far from their optimum (--tol inf: at iteration 0).
        self.tol = as_float("--tol", self.tol, 0.0, 1e-2, low_open=True)
        self.max_pairs = as_int("--max-pairs", self.max_pairs, 1, 10**9)
        self.hidden = as_int("--hidden", self.hidden, 1, 4096)
        self.epochs = as_int("--epochs", self.epochs, 1, 100_000)
        self.lr = as_float("--lr", self.lr, 0.0, 1.0, low_open=True)


@dataclass
class TabularConfig:
    dataset: str = ""
    """CSV/TSV/Parquet file, or a table bundled with scikit-learn ('sklearn:breast_cancer',
    'sklearn:wine', 'sklearn:iris'); empty: the logistic toy."""
    target: str = ""
    """Label column (binary or multiclass; any values, classes sorted)."""
    restricted: tuple[str, ...] = ()
    """Columns the restricted model sees; the full model sees every feature column."""
    drop_columns: tuple[str, ...] = ()
    """Columns to ignore (ids, leaks)."""
    missing: str = "drop"
    """Rows with a missing value in a used column: 'drop' (printing the count) or 'error'."""
    max_categories: int = 20
    """Non-numeric columns with at most this many values are one-hot encoded (else an error);
    numeric columns with at most this many integer values count as discrete."""
    test_fraction: float = 0.25
    """Fraction of the rows held out for testing (a fresh split per seed)."""
    valid_fraction: float = 0.15
    """Fraction of the rows held out for choosing the ratio (a fresh split per seed)."""
    aux_fraction: float = 0.5
    """Fraction of the remaining rows reserved for the restricted model (fixed per seed);
    0: every remaining row that is not among the n training rows."""
    restricted_source: str = "aux"
    """Where the restricted model is fitted: 'aux' (the auxiliary rows, restricted columns
    only) or 'train' (the same n training rows)."""
    restricted_kind: str = "auto"
    """'logistic' (multinomial, on the restricted columns), 'frequency' (smoothed table,
    discrete restricted columns only), or 'auto' (frequency if every restricted column is
    discrete, else logistic)."""
    smoothing: float = 1.0
    """Pseudo-counts of the frequency table, spread as the class prior."""
    restricted_l2: float = 1e-2
    """L2 penalty of the logistic restricted model."""
    induced: str = "auto"
    """Induced model over the training pool: 'pool' (extras independent of the restricted
    columns), 'groups' (rows with the same restricted values), 'neighbours' (nearest rows in
    the restricted columns), or 'auto' (see docs/tabular.md)."""
    num_neighbours: int = 0
    """Neighbours per row for --induced neighbours (itself included); 0: max(ceil(n / 2),
    min(n, 10))."""
    induced_samples: int = 32
    """Pool or neighbourhood members the induced model of each row averages over: a fixed
    random subset of this many (per seed) when there are more; 0: all of them."""

    def __post_init__(self):
        if not isinstance(self.dataset, str):
            raise ValueError(f"--dataset must be a path or sklearn:<name>, got "
                             f"{type(self.dataset).__name__}")
        if not isinstance(self.target, str):
            raise ValueError(f"--target must be a column name, got {self.target!r}")
        self.restricted = as_names("--restricted", self.restricted)
        self.drop_columns = as_names("--drop-columns", self.drop_columns)
        self.missing = as_choice("--missing", self.missing, MISSING)
        self.max_categories = as_int("--max-categories", self.max_categories, 2, 10_000)
        self.test_fraction = as_float("--test-fraction", self.test_fraction, 0.0, 1.0,
                                      low_open=True, high_open=True)
        self.valid_fraction = as_float("--valid-fraction", self.valid_fraction, 0.0, 1.0,
                                       low_open=True, high_open=True)
        if self.test_fraction + self.valid_fraction >= 0.9:
            raise ValueError(f"--test-fraction + --valid-fraction must be < 0.9 (rows are "
                             f"needed for training), got {self.test_fraction} + "
                             f"{self.valid_fraction}")
        self.aux_fraction = as_float("--aux-fraction", self.aux_fraction, 0.0, 0.9)
        self.restricted_source = as_choice("--restricted-source", self.restricted_source,
                                           RESTRICTED_SOURCES)
        self.restricted_kind = as_choice("--restricted-kind", self.restricted_kind,
                                         RESTRICTED_KINDS)
        self.smoothing = as_float("--smoothing", self.smoothing, 0.0, 1e6, low_open=True)
        self.restricted_l2 = as_float("--restricted-l2", self.restricted_l2, 0.0, 100.0)
        self.induced = as_choice("--induced", self.induced, INDUCED_KINDS)
        self.num_neighbours = as_int("--num-neighbours", self.num_neighbours, 0)
        self.induced_samples = as_int("--induced-samples", self.induced_samples, 0)
        if self.dataset:
            self.check_table_flags()

    def check_no_table_flags(self) -> None:
        """The sweep's check when ``--dataset`` is empty: it runs the logistic toy, which
        would ignore the table's column flags (the library API passes a DataFrame beside a
        config without ``dataset``, so this is not part of ``__post_init__``)."""
        given = [flag for flag, v in (("--target", self.target), ("--restricted", self.restricted),
                                      ("--drop-columns", self.drop_columns)) if v]
        if given:
            raise ValueError(f"{' and '.join(given)} given without --dataset (or with an "
                             "empty one): they name columns of a table, and without one the "
                             "logistic toy would run and ignore them; pass --dataset PATH or "
                             "drop them")

    def check_table_flags(self) -> None:
        if not self.target:
            raise ValueError("--dataset needs --target COLUMN (the label column)")
        if not self.restricted:
            raise ValueError("--dataset needs --restricted COLUMN [COLUMN ...] (what the "
                             "restricted model sees)")
        if self.target in self.restricted:
            raise ValueError(f"--restricted: {self.target!r} is the --target column")
        if self.target in self.drop_columns:
            raise ValueError(f"--drop-columns: {self.target!r} is the --target column")
        both = [c for c in self.restricted if c in self.drop_columns]
        if both:
            raise ValueError(f"--drop-columns drops restricted columns {both}")
