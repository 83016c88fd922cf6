"""``FinetuneTrainer``: a ``transformers.Trainer`` whose ``compute_loss`` adds the masked-LM
loss and its IMM term to a classifier's fine-tuning (methods in :mod:`imm_ray.lm.hf.finetune`).

::

    trainer = FinetuneTrainer(model=SharedEncoderModel(classifier, mlm), args=args,
                              train_dataset=encoded_train, processing_class=tokenizer,
                              data_collator=DataCollatorWithPadding(tokenizer),
                              restricted=bigram(ids, len(tokenizer)), method="mlm_imm",
                              imm_lambda=0.5, k=5, induced="sampled")

Each loss is a mean over this micro-batch (its examples, masked positions or IMM
contexts), so ``Trainer`` divides by the accumulation steps itself. Evaluation
(``model.eval()`` or no grad) computes the classifier's loss only.
"""

from __future__ import annotations

import torch
from transformers import Trainer

from imm_ray import core
from imm_ray import metrics as M
from imm_ray.lm.hf import mlm_imm
from imm_ray.lm.hf.finetune import FinetuneSettings, check_model, check_settings
from imm_ray.lm.hf.induced import choose_positions
from imm_ray.lm.hf.loss_logs import LossLogs, upcast


class FinetuneTrainer(LossLogs, Trainer):
    """``Trainer`` with finetune / mlm / mlm_imm; settings: :class:`FinetuneSettings`."""

    def __init__(self, *args, restricted=None, **kwargs):
        names = FinetuneSettings.__dataclass_fields__
        self.ft = FinetuneSettings(**{k: kwargs.pop(k) for k in list(kwargs) if k in names})
        check_settings(self.ft)
        model = kwargs.get("model", args[0] if args else None)
        tok = kwargs.get("processing_class")
        self.vocab = check_model(model, self.ft, tok, restricted)
        super().__init__(*args, **kwargs)
        self.restricted, self.tok = restricted, tok
        self.special = torch.as_tensor(sorted(set(tok.all_special_ids)), dtype=torch.long)
        self.gen = torch.Generator().manual_seed(self.args.seed + 1)
        self.ratio = core.ratio_from_lambda(self.ft.imm_lambda)
        self.sampler = self._sampler(kwargs.get("train_dataset"))

    def _sampler(self, train):
        if self.ft.method != "mlm_imm" or self.ft.induced != "sampled":
            return None
        feats = [train[i] for i in range(len(train))]
        types = [f["token_type_ids"] for f in feats] if "token_type_ids" in feats[0] else None
        return mlm_imm.MaskedContextSampler(
            [f["input_ids"] for f in feats], types, self.special.tolist(),
            self.tok.mask_token_id, self.tok.pad_token_id, self.ft.imm_length)

    # ------------------------------------------------------------------ the loss

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        training = model.training and torch.is_grad_enabled()
        if not training or self.ft.method == "finetune":
            outputs = model(**inputs)
            if training:
                self._track(M.LOSS_MAIN, outputs.loss.detach())
            return (outputs.loss, outputs) if return_outputs else outputs.loss
        ids = inputs["input_ids"]
        masked, chosen, targets, prev = self._mask(ids, inputs.get("attention_mask"))
        pos = chosen.reshape(-1).nonzero().squeeze(-1)  # [M] flat masked positions
        extra = self._windows(prev) if self.ft.method == "mlm_imm" else {}
        outputs = model(**inputs, mlm_input_ids=masked, mlm_positions=pos, **extra)
        loss = outputs.loss
        self._track(M.LOSS_MAIN, loss.detach())
        if len(pos) == 0:
            return (loss, outputs) if return_outputs else loss
        mlm = torch.nn.functional.cross_entropy(upcast(outputs["mlm_logits"]), targets)
        self._track(M.LOSS_MLM, mlm.detach())
        if self.ft.method == "mlm_imm":
            imm = self._imm(outputs, prev, extra)
            if imm is not None:
                core.assert_finite(imm.detach(), M.LOSS_IMM)
                self._track(M.LOSS_IMM, imm.detach())
                mlm = core.mix_losses(mlm, imm, self.ratio)
        loss = loss + self.ft.mlm_weight * mlm
        return (loss, outputs) if return_outputs else loss

    def _mask(self, ids, attention_mask):
        """(masked ids [B, T], chosen [B, T], targets [M], previous tokens [M])."""
        maskable = ~torch.isin(ids, self.special.to(ids.device))
        if attention_mask is not None:
            maskable &= attention_mask.bool()
        masked, chosen = mlm_imm.mask_tokens(ids, maskable, self.ft.mask_rate,
                                             self.tok.mask_token_id, len(self.tok), self.gen)
        prev = torch.roll(ids, 1, dims=1)  # position 0 is never maskable (a special token)
        return masked, chosen, ids[chosen], prev[chosen]

    def _contexts(self, prev):
        """Indices of the masked positions with an IMM term (``imm_positions`` at most)."""
        ok = torch.ones_like(prev, dtype=torch.bool)
        if self.sampler is not None:
            ok = self.sampler.available(prev).to(prev.device)
        return choose_positions(ok, self.ft.imm_positions, self.gen)

    def _windows(self, prev):
        """The sampled estimator's windows (model inputs), or {} for in_batch."""
        self._ctx = self._contexts(prev)
        if self.sampler is None or len(self._ctx) == 0:
            return {}
        ids, att, types, where = self.sampler.sample(prev[self._ctx], self.ft.k, self.gen)
        dev = prev.device
        return dict(window_ids=ids.to(dev), window_attention_mask=att.to(dev),
                    window_token_type_ids=types.to(dev), window_positions=where.to(dev))

    def _imm(self, outputs, prev, extra):
        ctx = self._ctx
        if len(ctx) == 0:
            return None
        probs = mlm_imm.maskable_probs(self.restricted, prev[ctx], self.vocab, self.special)
        if self.sampler is None:  # in_batch: groups among all masked positions
            logits = upcast(outputs["mlm_logits"])
            return mlm_imm.in_batch_imm(logits, prev, ctx, probs, self.ft.k, self.gen)
        logits = upcast(outputs["window_logits"]).view(len(ctx), self.ft.k, -1)
        return core.imm_loss(logits, probs)
