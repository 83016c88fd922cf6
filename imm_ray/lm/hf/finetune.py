"""Fine-tuning a sequence classifier with its masked-LM loss brought back, and IMM on it.

:class:`SharedEncoderModel` holds any ``AutoModelForSequenceClassification`` and, for the
MLM methods, its ``AutoModelForMaskedLM`` counterpart whose encoder *is* the classifier's
(one set of encoder weights; the MLM decoder stays tied to the shared word embeddings)::

    model = load_shared("bert-base-uncased", num_labels=2, with_mlm=True)   # or a folder
    model = SharedEncoderModel(classifier, mlm)                            # from instances

Methods (:data:`METHODS`; every loss from :mod:`imm_ray.core` or ``cross_entropy``):

- ``finetune``: the classifier's cross-entropy ``L_cls``.
- ``mlm``: ``L_cls + mlm_weight * L_mlm``, with ``L_mlm`` the MLM cross-entropy on a
  ``mask_rate`` BERT masking of the batch's own text (a second, masked copy of the batch).
- ``mlm_imm``: ``L_cls + mlm_weight * ((1 - r) L_mlm + r L_imm)``, ``r = lambda / (1 +
  lambda)``, ``L_imm`` :func:`imm_ray.core.imm_loss` at up to ``imm_positions`` masked
  positions (:mod:`imm_ray.lm.hf.mlm_imm`: restricted context the previous token,
  restricted model a Kneser-Ney bigram on token ids, induced model ``sampled`` or
  ``in_batch``).

The classifier, the MLM and the sampled windows run in one ``forward`` (one DDP forward a
step under Ray Train). :class:`FinetuneTrainer` is the ``transformers.Trainer``;
``loss/main``, ``loss/mlm`` and ``loss/imm`` go into its logs (hence every ``report_to``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from transformers.utils import ModelOutput

from imm_ray.lm.hf.finetune_settings import (  # noqa: F401 (defined torch-free there)
    LABELS,
    METHODS,
    FinetuneSettings,
    check_settings,
)
from imm_ray.lm.hf.restricted import check_vocab

# --------------------------------------------------------------------------- the model


@dataclass
class SharedEncoderOutput(ModelOutput):
    """The classifier's ``loss`` and ``logits`` ``[B, C]``; ``mlm_logits`` ``[M, V]`` and
    ``window_logits`` ``[W, V]`` when asked for (a ``ModelOutput``, so DDP rebuilds it)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    mlm_logits: torch.Tensor | None = None
    window_logits: torch.Tensor | None = None


def is_masked_lm(model) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    return type(model).__name__ in set(MODEL_FOR_MASKED_LM_MAPPING_NAMES.values())


class SharedEncoderModel(torch.nn.Module):
    """A sequence classifier and (optionally) a masked LM sharing one encoder."""

    def __init__(self, classifier, mlm=None):
        super().__init__()
        from transformers.models.auto.modeling_auto import (
            MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES as CLS,
        )

        if type(classifier).__name__ not in set(CLS.values()):
            raise ValueError(f"model must be an AutoModelForSequenceClassification class, got "
                             f"{type(classifier).__name__}")
        if mlm is not None:
            if not is_masked_lm(mlm):
                raise ValueError(f"mlm must be an AutoModelForMaskedLM class, got "
                                 f"{type(mlm).__name__}")
            if mlm.base_model_prefix != classifier.base_model_prefix:
                raise ValueError(f"mlm ({type(mlm).__name__}) and classifier "
                                 f"({type(classifier).__name__}) are different families")
            setattr(mlm, mlm.base_model_prefix, classifier.base_model)  # one encoder
            mlm.tie_weights()  # the MLM decoder follows the shared word embeddings
        self.classifier, self.mlm = classifier, mlm
        self.config = classifier.config
        accepts = inspect.signature(type(classifier).forward).parameters
        self.uses_types = "token_type_ids" in accepts and \
            getattr(self.config, "type_vocab_size", 2) > 1  # RoBERTa: 1, DistilBERT: none

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None,
                mlm_input_ids=None, mlm_positions=None, window_ids=None,
                window_attention_mask=None, window_token_type_ids=None, window_positions=None):
        """Classifier outputs; with ``mlm_input_ids`` ([B, T]) also ``mlm_logits`` ``[M, V]``
        at the ``[M]`` flat ``mlm_positions``, with ``window_ids`` ([W, L]) also
        ``window_logits`` ``[W, V]`` at each window's ``window_positions``."""
        types = token_type_ids is not None and self.uses_types
        extra = {"token_type_ids": token_type_ids} if types else {}
        out = self.classifier(input_ids=input_ids, attention_mask=attention_mask, labels=labels,
                              **extra)
        out = SharedEncoderOutput(loss=out.loss, logits=out.logits)
        if mlm_input_ids is not None:
            out["mlm_logits"] = self.mlm_logits_at(mlm_input_ids, attention_mask,
                                                   extra.get("token_type_ids"), mlm_positions)
        if window_ids is not None:
            flat = window_positions + torch.arange(len(window_ids), device=window_ids.device) \
                * window_ids.shape[1]
            out["window_logits"] = self.mlm_logits_at(
                window_ids, window_attention_mask, window_token_type_ids if types else None, flat)
        return out

    def mlm_logits_at(self, ids, attention_mask, token_type_ids, positions):
        """``[B, T]`` inputs -> ``[M, V]`` MLM logits at the ``[M]`` flat ``positions``; the
        vocabulary projection runs on those rows only (not on every position)."""
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        hidden = self.mlm.base_model(input_ids=ids, attention_mask=attention_mask, **extra)[0]
        logits = mlm_head(self.mlm, hidden.reshape(-1, hidden.shape[-1])[positions])
        if logits is None:  # a family without a separate head module
            full = self.mlm(input_ids=ids, attention_mask=attention_mask, **extra).logits
            logits = full.reshape(-1, full.shape[-1])[positions]
        return logits


def mlm_head(mlm, hidden: torch.Tensor) -> torch.Tensor | None:
    """The masked LM's head on ``[N, H]`` hidden states -> ``[N, V]`` logits, for the
    families whose head is a module of its own (BERT ``cls``, RoBERTa ``lm_head``,
    DistilBERT's ``vocab_*`` layers); None for others (the full forward is used)."""
    if hasattr(mlm, "cls"):
        return mlm.cls(hidden)
    if hasattr(mlm, "lm_head"):
        return mlm.lm_head(hidden)
    if hasattr(mlm, "vocab_projector"):
        h = mlm.vocab_layer_norm(mlm.activation(mlm.vocab_transform(hidden)))
        return mlm.vocab_projector(h)
    return None


def load_shared(name: str, num_labels: int, with_mlm: bool) -> SharedEncoderModel:
    """``from_pretrained`` the classifier (new head) and, with ``with_mlm``, the masked LM of
    a folder or hub name; ValueError naming ``model`` when it has no MLM head."""
    from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification

    classifier = AutoModelForSequenceClassification.from_pretrained(name, num_labels=num_labels)
    mlm = None
    if with_mlm:
        try:
            mlm = AutoModelForMaskedLM.from_pretrained(name)
        except ValueError as e:
            raise ValueError(f"model {name!r} has no masked-LM head "
                             f"({type(classifier).config_class.model_type}), which the "
                             f"methods 'mlm' and 'mlm_imm' need: {e}") from None
    return SharedEncoderModel(classifier, mlm)


def check_model(model, s: FinetuneSettings, tokenizer, restricted) -> int:
    """The model fits the method and the tokenizer; returns its vocabulary."""
    if not isinstance(model, SharedEncoderModel):
        raise ValueError(f"model must be a SharedEncoderModel (imm_ray.lm.hf.finetune), got "
                         f"{type(model).__name__}")
    if s.method != "finetune" and model.mlm is None:
        raise ValueError(f"model: method {s.method!r} needs a masked-LM head; build it with "
                         "SharedEncoderModel(classifier, mlm) or load_shared(..., with_mlm=True)")
    vocab = model.classifier.get_input_embeddings().weight.shape[0]
    if tokenizer is None:
        raise ValueError("processing_class: the tokenizer is needed (masking, special ids)")
    check_vocab(vocab, len(tokenizer), restricted if s.method == "mlm_imm" else None)
    if s.method != "finetune" and tokenizer.mask_token_id is None:
        raise ValueError("processing_class: the tokenizer has no mask token")
    if s.method == "mlm_imm" and restricted is None:
        raise ValueError("restricted: method 'mlm_imm' needs a restricted model "
                         "(imm_ray.lm.hf.bigram(ids, len(tokenizer)))")
    return vocab
