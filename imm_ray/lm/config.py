"""``LMConfig``: every setting of one language-model training run (CLI and Tune), and
``parse_assignments`` for ``FIELD=VALUE`` overrides (``sweeps/lm_ptb.py --set``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from imm_ray import core

METHODS = ("none", "noising", "reverse_kd", "imm")
MODELS = ("lstm", "transformer")


@dataclass
class LMConfig:
    data_path: str = ""
    """Prepared corpus .npz from imm_ray.lm.data.prepare_corpus (trials read only this)."""
    model: str = "lstm"
    """Full model: lstm or transformer."""
    method: str = "none"
    """none (dropout only), noising (KN bigram noising), reverse_kd, or imm."""
    lam: float = 0.2
    """lambda of L_main + lambda L_extra (trained as (1-r) L_main + r L_extra, r = lam/(1+lam))."""
    lam_schedule: str = ""
    """Optional core.make_schedule spec (preset or JSON dict) of n = training tokens; beats lam."""
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
    """Fraction (prefix) of the training split the full model sees; the bigram uses all of it."""
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
    """cpu, cuda, or auto (CUDA when present)."""
    threads: int = 0
    """torch CPU threads (0 = leave torch's default)."""

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.history_source not in ("train", "full"):
            raise ValueError(f"history_source must be 'train' or 'full', got "
                             f"{self.history_source!r}")
        for name in ("k", "imm_length", "imm_every", "epochs", "batch_size", "bptt",
                     "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("token_budget", "patience", "valid_tokens", "test_tokens",
                     "imm_contexts", "imm_chunk", "imm_start_step", "threads"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.train_fraction <= 1:
            raise ValueError(f"train_fraction must be in (0, 1], got {self.train_fraction}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.noise_gamma <= 1:
            raise ValueError(f"noise_gamma must be in [0, 1], got {self.noise_gamma}")
        if not (self.lam >= 0 and math.isfinite(self.lam)):  # `not >=` also catches NaN
            raise ValueError(f"lam must be finite and >= 0, got {self.lam}")
        self.schedule()  # a bad lam_schedule fails here, not inside a trial

    def schedule(self) -> core.Schedule | None:
        """``lam_schedule`` as a ``core.make_schedule`` schedule, or None when unset."""
        if not self.lam_schedule:
            return None
        spec = self.lam_schedule
        try:
            spec = json.loads(spec) if spec.lstrip().startswith("{") else spec
            return core.make_schedule(spec)
        except (ValueError, TypeError) as e:
            raise ValueError(f"lam_schedule {self.lam_schedule!r}: {e}") from e


_BOOLS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def parse_assignments(items: list[str], flag: str = "--set") -> dict:
    """``["lr=0.01", "tie_weights=yes"]`` -> ``{"lr": 0.01, "tie_weights": True}``, each
    typed as its LMConfig field; a ValueError names ``<flag> <field>`` and what it expects."""
    fields = LMConfig.__dataclass_fields__
    out = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"{flag} {item}: expected FIELD=VALUE")
        if name not in fields:
            raise ValueError(f"{flag} {name}: unknown LMConfig field {name!r}; choose from "
                             f"{sorted(fields)}")
        tp = type(fields[name].default)
        if tp is bool:
            if value.lower() not in _BOOLS:
                raise ValueError(f"{flag} {name}: expected a bool (1/true/yes or 0/false/no), "
                                 f"got {value!r}")
            out[name] = _BOOLS[value.lower()]
            continue
        try:
            out[name] = tp(value)
        except ValueError:
            raise ValueError(f"{flag} {name}: expected {'an' if tp is int else 'a'} "
                             f"{tp.__name__}, got {value!r}") from None
    return out
