"""One trial's config (:class:`TrialConfig`), the sweep's grid (:class:`Grid`), and the
dict :mod:`imm_ray.lm.hf.ray_train` builds its trainer from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from imm_ray.config import check_number
from imm_ray.lm.hf import ESTIMATORS, METHODS, TrainerSettings
from imm_ray.lm.hf.configs import BUILTIN


@dataclass
class TrialConfig:
    """Everything one run computes from; ``corpus_path``/``restricted_path`` are prepared
    by the driver before Ray starts."""

    model: str = "gpt2-mini"
    """Built-in config name (random weights) or a local Hugging Face model folder."""
    dropout: float = 0.1
    """Dropout of a built-in config."""
    method: str = "none"
    """none, imm, reverse_kd or noising."""
    induced: str = "sampled"
    """IMM estimator: sampled or in_batch ('-' for other methods)."""
    imm_lambda: float = 0.2
    """lambda of the imm / reverse_kd term (ratio lambda / (1 + lambda))."""
    k: int = 10
    """Induced-model samples per restricted context."""
    imm_length: int = 32
    """L: tokens per sampled history window."""
    imm_positions: int = 64
    """Restricted contexts per micro-batch for imm / reverse_kd (0: every position)."""
    imm_every: int = 1
    """IMM term on every j-th optimizer step."""
    serialized_chunk: int = 0
    """> 0: sampled IMM gradient through core.serialized_imm_backward in chunks of k."""
    in_batch_buffer: int = 0
    """in_batch: rows of detached logits from recent batches pooled with the batch's."""
    noise_gamma: float = 0.2
    """noising: gamma0 of the bigram noising."""
    train_fraction: float = 1.0
    """Share of the training stream the full model sees (its first part)."""
    seed: int = 0
    """Seed of weights, data order and IMM draws."""
    batch_size: int = 16
    """Blocks per optimizer step (over all workers)."""
    epochs: float = 1.0
    """Passes over the (fraction of the) training blocks."""
    max_steps: int = 0
    """> 0: stop after this many optimizer steps instead of epochs."""
    lr: float = 3e-3
    """AdamW peak learning rate (linear warmup 5%, cosine decay)."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    eval_tokens: int = 0
    """Evaluate on the first this-many tokens of valid and test (0: the whole splits)."""
    num_workers: int = 0
    """Ray Train workers (data-parallel); 0 runs the Trainer inside the Tune trial."""
    gpus_per_worker: float = 0.0
    """GPUs per Ray Train worker (or for the trial when num_workers is 0)."""
    threads: int = 1
    """torch threads in each process."""
    corpus_path: str = ""
    """The prepared corpus (.npz of token streams)."""
    restricted_path: str = ""
    """The prepared Kneser-Ney bigram (.npz)."""

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.method == "imm" and self.induced not in ESTIMATORS:
            raise ValueError(f"induced must be one of {ESTIMATORS}, got {self.induced!r}")
        check_number(self, "train_fraction", low=0.0, low_open=True, high=1.0)
        check_number(self, "batch_size", low=1, integer=True)
        check_number(self, "num_workers", low=0, integer=True)
        check_number(self, "gpus_per_worker", low=0.0)
        check_number(self, "k", low=1, integer=True)
        if self.num_workers and self.batch_size % self.num_workers:
            raise ValueError(f"batch_size {self.batch_size} must be a multiple of "
                             f"--num-workers {self.num_workers} (the global batch is split)")

    def settings(self) -> dict:
        names = {f.name for f in fields(TrainerSettings)}
        out = {k: v for k, v in asdict(self).items() if k in names}
        out["induced"] = self.induced if self.induced in ESTIMATORS else "sampled"
        return out

    def run_config(self, n_positions: int) -> dict:
        """The dict :func:`imm_ray.lm.hf.ray_train.make_trainer` takes."""
        workers = max(self.num_workers, 1)
        steps = dict(max_steps=self.max_steps) if self.max_steps else dict(
            num_train_epochs=self.epochs)
        return dict(corpus_path=self.corpus_path, restricted_path=self.restricted_path or None,
                    model=self.model, n_positions=n_positions, dropout=self.dropout,
                    seed=self.seed, train_fraction=self.train_fraction,
                    eval_tokens=self.eval_tokens,
                    settings=self.settings(),
                    training_args=dict(per_device_train_batch_size=self.batch_size // workers,
                                       per_device_eval_batch_size=32, learning_rate=self.lr,
                                       weight_decay=self.weight_decay, warmup_steps=0.05,
                                       lr_scheduler_type="cosine", logging_steps=50,
                                       save_strategy="no", use_cpu=self.gpus_per_worker == 0,
                                       dataloader_num_workers=0, **steps))


@dataclass
class Grid:
    """The sweep's axes; ``imm`` runs every estimator x lambda, ``reverse_kd`` every
    lambda, ``none`` and ``noising`` once per fraction and seed."""

    methods: tuple[str, ...] = ("none", "noising", "reverse_kd", "imm")
    """Methods to compare."""
    imm_lambdas: tuple[float, ...] = (0.2,)
    """lambda values of imm and reverse_kd."""
    estimators: tuple[str, ...] = ("sampled", "in_batch")
    """IMM estimators."""
    train_fractions: tuple[float, ...] = (0.1, 1.0)
    """Shares of the training split the full model sees."""
    seeds: int = 3
    """Seeds per grid point: seeds 0 .. N-1 (--seed-values gives explicit ones instead)."""
    seed_values: tuple[int, ...] = ()
    """Explicit seed values instead of --seeds (e.g. 3 4 5)."""

    def __post_init__(self):
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise ValueError(f"--seeds must be an integer >= 1 (a count; --seed-values takes "
                             f"explicit values), got {self.seeds!r}")
        if len(set(self.seed_values)) != len(self.seed_values):
            raise ValueError(f"--seed-values must not repeat a value, got "
                             f"{list(self.seed_values)}")
        for name, allowed in (("methods", METHODS), ("estimators", ESTIMATORS)):
            bad = [v for v in getattr(self, name) if v not in allowed]
            if bad or not getattr(self, name):
                raise ValueError(f"--{name} must be a non-empty list from {allowed}, got "
                                 f"{list(getattr(self, name))}")

    def points(self) -> list[dict]:
        """Every trial's varying fields."""
        out = []
        for frac in self.train_fractions:
            for seed in self.seed_values or range(self.seeds):
                for method in self.methods:
                    base = dict(method=method, train_fraction=frac, seed=seed, induced="-")
                    if method == "imm":
                        out += [{**base, "induced": e, "imm_lambda": lam}
                                for e in self.estimators for lam in self.imm_lambdas]
                    elif method == "reverse_kd":
                        out += [{**base, "imm_lambda": lam} for lam in self.imm_lambdas]
                    else:
                        out.append({**base, "imm_lambda": 0.0})
        return out


TRAIN_PREFIX = ("train-bpe:", "train-wordlevel:")
"""``--tokenizer`` values that train one on the corpus (``train-bpe:N``)."""
BUILTIN_TOKENIZER = "train-bpe:8000"
"""The tokenizer of a built-in config (it has none of its own): ``--tokenizer ''``."""


def check_tokenizer_spec(spec: str, model: str) -> None:
    """``--tokenizer``: '' (the model's), ``train-bpe:N``, ``train-wordlevel:N`` or a folder."""
    if spec.startswith(TRAIN_PREFIX):
        n = spec.split(":", 1)[1]
        if not n.isdigit() or int(n) < (300 if "bpe" in spec else 3):
            raise ValueError(f"--tokenizer {spec!r}: the vocabulary size after ':' must be an "
                             "integer (>= 300 for BPE)")
    elif not spec and model in BUILTIN:
        raise ValueError(f"--tokenizer: the built-in config {model!r} has no tokenizer of its "
                         f"own; pass --tokenizer {BUILTIN_TOKENIZER} (or a tokenizer folder)")
