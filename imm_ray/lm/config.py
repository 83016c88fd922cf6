"""``LMConfig``: every setting of one language-model training run (CLI and Tune).

Every value is checked where it enters (``__post_init__``), so a sweep that builds the
config of each grid point in its driver rejects a bad value before Ray starts, with a
``ValueError`` naming the field and the allowed range."""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imm_ray import core

METHODS = ("none", "noising", "reverse_kd", "imm")
MODELS = ("lstm", "transformer")
CHOICES = {"method": METHODS, "model": MODELS, "optimizer": ("sgd", "adam"),
           "history_source": ("train", "full"), "restricted_data": ("full", "same"),
           "device": ("auto", "cpu", "cuda")}
POSITIVE_INTS = ("k", "imm_length", "imm_every", "epochs", "batch_size", "bptt",
                 "eval_batch_size", "emb_size", "hidden_size", "num_layers", "num_heads")
NON_NEGATIVE_INTS = ("token_budget", "patience", "valid_tokens", "test_tokens", "imm_contexts",
                     "imm_chunk", "imm_start_step", "threads", "seed")
RANGES = {  # field: (low, high, low inclusive, high inclusive); NaN and inf never pass
    "train_fraction": (0.0, 1.0, False, True), "dropout": (0.0, 1.0, True, False),
    "noise_gamma": (0.0, 1.0, True, True), "imm_lambda": (0.0, math.inf, True, False),
    "lr": (0.0, math.inf, False, False), "lr_decay": (0.0, 1.0, False, True),
    "clip": (0.0, math.inf, True, False), "imm_start_ppl": (0.0, math.inf, True, False)}


@dataclass
class LMConfig:
    data_path: str = ""
    """Prepared corpus .npz from imm_ray.lm.data.prepare_corpus (trials read only this)."""
    model: str = "lstm"
    """Full model: lstm or transformer."""
    method: str = "none"
    """none (dropout only), noising (KN bigram noising), reverse_kd, or imm."""
    imm_lambda: float = 0.2
    """IMM weight lambda of L_main + lambda L_extra (trained with r = lambda / (1 + lambda))."""
    imm_lambda_schedule: str = ""
    """Optional core.make_schedule spec (preset or JSON) of n = train tokens; beats imm_lambda."""
    k: int = 10
    """IMM: histories drawn per restricted context."""
    imm_length: int = 35
    """IMM: tokens per history window L (the last one is the restricted context)."""
    imm_contexts: int = 0
    """IMM: batch positions sampled per step for the IMM term (0 = every position)."""
    imm_every: int = 1
    """IMM: add the IMM term on every j-th training step."""
    imm_start_step: int = 0
    """IMM: first training step (counted over all epochs) with the IMM term."""
    imm_start_ppl: float = 0.0
    """IMM: wait until validation perplexity falls below this (0 = do not wait)."""
    imm_chunk: int = 0
    """IMM: 0 = autograd imm_loss; c > 0 = serialized gradient, c histories per pass."""
    history_source: str = "train"
    """IMM: histories from the training part actually used (train) or the whole split (full)."""
    noise_gamma: float = 0.2
    """noising: gamma0 of the KN bigram noising rate."""
    train_fraction: float = 1.0
    """Fraction (prefix) of the training split the full model sees."""
    restricted_data: str = "full"
    """KN bigram estimated on the whole training split (full) or on the same prefix (same)."""
    emb_size: int = 200
    """Embedding width (the transformer's model width)."""
    hidden_size: int = 200
    """LSTM hidden units (the transformer's feed-forward width)."""
    num_layers: int = 2
    """LSTM or transformer layers."""
    num_heads: int = 4
    """Transformer attention heads."""
    dropout: float = 0.5
    """Dropout probability."""
    tie_weights: bool = False
    """Tie input embedding and output layer (needs emb_size == hidden_size for the LSTM)."""
    batch_size: int = 20
    """Training batch size (parallel streams)."""
    bptt: int = 35
    """Unroll length of truncated back-propagation through time."""
    optimizer: str = "sgd"
    """sgd (reference: plateau decay, clipping) or adam."""
    lr: float = 1.0
    """Initial learning rate."""
    lr_decay: float = 0.5
    """Multiply the learning rate by this when validation perplexity does not improve."""
    clip: float = 5.0
    """Gradient-norm clipping (0 = off)."""
    epochs: int = 6
    """Training epochs over the (fraction of the) training split (see token_budget)."""
    token_budget: int = 0
    """If > 0: epochs = ceil(token_budget / training tokens), equal updates at every fraction."""
    patience: int = 0
    """Stop after this many epochs without a better validation perplexity (0 = never)."""
    valid_tokens: int = 0
    """Per-epoch validation on the first this many tokens (0 = all); final: test_tokens."""
    test_tokens: int = 0
    """Final validation and test on the first this many tokens (0 = the full splits)."""
    eval_batch_size: int = 10
    """Streams for validation/test evaluation."""
    seed: int = 0
    """Seeds torch, numpy and the IMM/noising generator."""
    device: str = "auto"
    """cpu, cuda (an error when torch sees no GPU), or auto (CUDA when present)."""
    threads: int = 0
    """torch CPU threads (0 = leave torch's default)."""

    def __post_init__(self):
        self._check_types()
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in POSITIVE_INTS:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in NON_NEGATIVE_INTS:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name, (lo, hi, lo_in, hi_in) in RANGES.items():
            _check_range(name, getattr(self, name), lo, hi, lo_in, hi_in)
        self._check_model()
        self.schedule()  # a bad imm_lambda_schedule fails here, not inside a trial

    def _check_types(self) -> None:
        """int fields take Python/numpy ints (not bools), float fields any real number,
        str and bool fields only those; a wrong type is named as such."""
        for f in fields(self):
            value, kind = getattr(self, f.name), type(f.default)
            if kind is bool:
                ok = isinstance(value, bool)
            elif kind is int:
                ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
            elif kind is float:
                ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
            else:
                ok = isinstance(value, str)
            if not ok:
                raise ValueError(f"{f.name} must be of type {kind.__name__}, got "
                                 f"{type(value).__name__} {value!r}")
            setattr(self, f.name, kind(value))  # numpy scalars -> plain Python values

    def _check_model(self) -> None:
        if self.model == "transformer" and self.emb_size % self.num_heads:
            raise ValueError(f"num_heads ({self.num_heads}) must divide emb_size "
                             f"({self.emb_size}), the transformer's width")
        if self.model == "lstm" and self.tie_weights and self.emb_size != self.hidden_size:
            raise ValueError(f"tie_weights needs emb_size == hidden_size for the LSTM, got "
                             f"{self.emb_size} and {self.hidden_size}")

    def logits_bytes(self, vocab_size: int) -> dict[str, float]:
        """Bytes of the float32 logits a step allocates, by the flag that sets them (lower
        bounds on memory, checked before Ray starts): ``--batch-size``, the training batch's
        ``[B * T, V]``; ``--eval-batch-size``, the evaluation batch's ``[B_eval * T, V]``;
        for IMM ``--ks``, the histories' ``[N, k', V]``, where ``N`` is ``imm_contexts`` (0:
        every position, ``B * T``) and ``k'`` is ``k`` (``imm_chunk`` when serialized)."""
        positions = self.batch_size * self.bptt
        out = {"--batch-size": 4.0 * positions * vocab_size,
               "--eval-batch-size": 4.0 * self.eval_batch_size * self.bptt * vocab_size}
        if self.method == "imm":
            contexts = min(self.imm_contexts or positions, positions)
            out["--ks"] = 4.0 * contexts * (min(self.imm_chunk, self.k) or self.k) * vocab_size
        return out

    def schedule(self) -> core.Schedule | None:
        """``imm_lambda_schedule`` as a ``core.make_schedule`` schedule, or None when unset."""
        from imm_ray import core  # torch: not needed to parse flags or print --help

        if not self.imm_lambda_schedule:
            return None
        spec = self.imm_lambda_schedule
        try:
            spec = json.loads(spec, parse_constant=_no_constant) if spec.lstrip().startswith(
                "{") else spec
            return core.make_schedule(spec)
        except (ValueError, TypeError) as e:
            raise ValueError(f"imm_lambda_schedule {self.imm_lambda_schedule!r}: {e}") from e


def _no_constant(name: str):
    raise ValueError(f"{name} is not a finite number")


def _check_range(name: str, value: float, lo: float, hi: float, lo_in: bool,
                 hi_in: bool) -> None:
    """ValueError naming ``name`` unless ``value`` is finite and in the interval."""
    ok = math.isfinite(value) and (value >= lo if lo_in else value > lo) and (
        value <= hi if hi_in else value < hi)
    if not ok:
        interval = f"{'[' if lo_in else '('}{lo:g}, {hi:g}{']' if hi_in else ')'}"
        raise ValueError(f"{name} must be finite and in {interval}, got {value!r}")
