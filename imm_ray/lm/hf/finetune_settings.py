"""The settings of :class:`imm_ray.lm.hf.finetune_trainer.FinetuneTrainer` and their
checks, without torch (the fine-tuning sweep's ``--help`` reads them); the methods are
described in :mod:`imm_ray.lm.hf.finetune`."""

from __future__ import annotations

from dataclasses import dataclass

from imm_ray.checks import check_real
from imm_ray.lm.hf.checks import ESTIMATORS

METHODS = ("finetune", "mlm", "mlm_imm")
LABELS = {"finetune": "finetune", "mlm": "finetune+mlm", "mlm_imm": "finetune+mlm+imm"}


@dataclass
class FinetuneSettings:
    """What :class:`FinetuneTrainer` adds to ``TrainingArguments``."""

    method: str = "mlm_imm"
    """finetune, mlm (finetune+mlm) or mlm_imm (finetune+mlm+imm)."""
    mlm_weight: float = 1.0
    """weight of the MLM objective (with its IMM part) beside the classifier's loss."""
    imm_lambda: float = 0.5
    """lambda of the IMM term inside the MLM objective (ratio lambda / (1 + lambda))."""
    mask_rate: float = 0.15
    """share of (non-special) tokens masked, in (0, 1)."""
    induced: str = "sampled"
    """IMM estimator of Qbar: sampled (k training windows, one extra forward) or in_batch."""
    k: int = 5
    """samples of the induced model per restricted context (the paper: 5)."""
    imm_length: int = 16
    """L: tokens per sampled window (the masked token near its middle)."""
    imm_positions: int = 8
    """masked positions per micro-batch with an IMM term; 0: all."""


def check_settings(s: FinetuneSettings) -> None:
    """ValueError naming the setting, before any training."""
    if s.method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {s.method!r}")
    if s.induced not in ESTIMATORS:
        raise ValueError(f"induced must be one of {ESTIMATORS}, got {s.induced!r}")
    if isinstance(s.mask_rate, bool) or not isinstance(s.mask_rate, (int, float)) \
            or not 0.0 < s.mask_rate < 1.0:
        raise ValueError(f"mask_rate must be in (0, 1), got {s.mask_rate!r}")
    check_real(s.mlm_weight, "mlm_weight", low=0.0)
    check_real(s.imm_lambda, "imm_lambda", low=0.0)
    check_real(s.k, "k", low=1, integer=True)
    check_real(s.imm_length, "imm_length", low=2, integer=True)
    check_real(s.imm_positions, "imm_positions", low=0, integer=True)
