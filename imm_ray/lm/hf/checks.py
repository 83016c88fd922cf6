"""The trainer's settings and every check on them, run before ``Trainer`` starts."""

from __future__ import annotations

from dataclasses import dataclass

from imm_ray.checks import check_real  # torch-free: the sweep's --help imports this module

METHODS = ("none", "imm", "reverse_kd", "noising")
ESTIMATORS = ("sampled", "in_batch")
"""Induced-model estimators (imm_ray.lm.hf.induced)."""


@dataclass
class TrainerSettings:
    """What :class:`imm_ray.lm.hf.trainer.IMMTrainer` adds to ``TrainingArguments``."""

    method: str = "imm"
    """none, imm, reverse_kd or noising."""
    imm_lambda: float = 0.2
    """lambda of the extra term (imm, reverse_kd); the mix ratio is lambda / (1 + lambda)."""
    induced: str = "sampled"
    """IMM estimator of Qbar: sampled (k corpus windows, one extra forward) or in_batch."""
    k: int = 10
    """samples of the induced model per restricted context (windows, or batch positions)."""
    imm_length: int = 32
    """L: tokens per sampled history window."""
    imm_positions: int = 64
    """restricted contexts (positions) per micro-batch for imm / reverse_kd; 0: all."""
    imm_every: int = 1
    """add the IMM term on every j-th optimizer step (the paper's j)."""
    serialized_chunk: int = 0
    """> 0: sampled IMM gradient by core.serialized_imm_backward, this many of k per pass."""
    in_batch_buffer: int = 0
    """in_batch: detached logits rows of recent batches pooled with the current batch."""
    noise_gamma: float = 0.2
    """noising: gamma0 of bigram Kneser-Ney noising."""


def check_settings(s: TrainerSettings, restricted, args) -> None:
    """ValueError naming the setting, before any training."""
    if s.method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {s.method!r}")
    if s.induced not in ESTIMATORS:
        raise ValueError(f"induced (estimator) must be one of {ESTIMATORS}, got {s.induced!r}")
    check_real(s.imm_lambda, "imm_lambda", low=0.0)
    check_real(s.k, "k", low=1, integer=True)
    check_real(s.imm_length, "imm_length", low=1, integer=True)
    check_real(s.imm_positions, "imm_positions", low=0, integer=True)
    check_real(s.imm_every, "imm_every", low=1, integer=True)
    check_real(s.serialized_chunk, "serialized_chunk", low=0, integer=True)
    check_real(s.in_batch_buffer, "in_batch_buffer", low=0, integer=True)
    check_real(s.noise_gamma, "noise_gamma", low=0.0, high=1.0)
    if s.method != "none" and restricted is None:
        raise ValueError(f"restricted: method {s.method!r} needs a restricted model "
                         "(e.g. imm_ray.lm.hf.bigram(corpus.train_ids, len(tokenizer)))")
    if s.method == "noising" and not hasattr(restricted, "successor_types"):
        raise ValueError("restricted: noising needs a Kneser-Ney bigram (imm_ray.lm.hf.bigram)")
    if s.serialized_chunk and args is not None and getattr(args, "fp16", False):
        raise ValueError("serialized_chunk: the serialized gradient bypasses fp16's loss "
                         "scaler; use bf16 or serialized_chunk=0")


def check_model(model, s: TrainerSettings, train_dataset, tokenizer, restricted) -> int:
    """The model is a causal LM whose positions and vocabulary fit the data; returns the
    model's vocabulary (logits width)."""
    from transformers import PreTrainedModel
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    causal = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    if not isinstance(model, PreTrainedModel) or type(model).__name__ not in causal:
        raise ValueError(f"model must be a causal LM (an AutoModelForCausalLM class such as "
                         f"GPT2LMHeadModel or LlamaForCausalLM), got {type(model).__name__}")
    vocab = model.get_output_embeddings().weight.shape[0]
    tok_vocab = len(tokenizer) if tokenizer is not None else getattr(train_dataset, "vocab_size",
                                                                     None)
    from imm_ray.lm.hf.restricted import check_vocab

    check_vocab(vocab, tok_vocab, restricted)
    max_pos = max_positions(model.config)
    block = getattr(train_dataset, "block_size", None)
    if max_pos is not None and block is not None and block > max_pos:
        raise ValueError(f"block_size {block} is above the model's maximum positions {max_pos}")
    if max_pos is not None and s.method == "imm" and s.imm_length > max_pos:
        raise ValueError(f"imm_length {s.imm_length} is above the model's maximum positions "
                         f"{max_pos}")
    return vocab


def max_positions(config) -> int | None:
    for name in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None
