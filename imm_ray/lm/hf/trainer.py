"""``IMMTrainer``: a ``transformers.Trainer`` whose ``compute_loss`` adds the IMM term.

::

    trainer = IMMTrainer(model=model, args=TrainingArguments(...), train_dataset=corpus.train,
                         eval_dataset=corpus.valid, restricted=bigram(corpus.train_ids, len(tok)),
                         method="imm", imm_lambda=0.2, k=10, induced="sampled")

Methods (the objective is ``(1 - r) L_main + r L_extra`` with ``r = lambda / (1 + lambda)``,
every loss from :mod:`imm_ray.core`):

- ``none``: the causal-LM cross-entropy only.
- ``imm``: plus :func:`imm_ray.core.imm_loss` of the restricted model against the induced
  model at up to ``imm_positions`` positions (their previous tokens), estimated
  ``sampled`` or ``in_batch`` (:mod:`imm_ray.lm.hf.induced`), every ``imm_every``-th
  optimizer step; ``serialized_chunk > 0`` uses
  :func:`imm_ray.core.serialized_imm_backward` (memory flat in ``k``).
- ``reverse_kd``: plus :func:`imm_ray.core.reverse_kd_loss` against the bigram row at each
  position.
- ``noising``: bigram noising of the training blocks (:class:`imm_ray.lm.noising.BigramNoiser`).

Scaling follows ``Trainer``'s own loss: with ``num_items_in_batch`` the main loss is a sum
over the accumulated batch's label tokens divided by their number (times the processes
when tokens are averaged across devices), and each extra term, a mean over this
micro-batch's positions, is weighted by the micro-batch's share of those tokens; so
gradient accumulation gives the big batch's update. Extra terms are reduced in float32
under bf16/fp16 autocast (:mod:`imm_ray.core` upcasts half precision). ``loss/main``,
``loss/imm`` (and ``loss/kd``) go into the Trainer's logs, hence to every ``report_to``.
Under DDP the extra forward of ``sampled`` runs through the unwrapped module (one DDP
forward per step), and the serialized IMM gradient is accumulated before that forward,
so DDP's reducer all-reduces the sum once.
"""

from __future__ import annotations

import torch
from transformers import Trainer

from imm_ray import core
from imm_ray import metrics as M
from imm_ray.lm.hf import induced
from imm_ray.lm.hf.checks import TrainerSettings, check_model, check_settings
from imm_ray.lm.hf.loss_logs import LossLogs, upcast
from imm_ray.lm.hf.restricted import padded_probs
from imm_ray.lm.histories import HistorySampler
from imm_ray.lm.noising import BigramNoiser


class IMMTrainer(LossLogs, Trainer):
    """``Trainer`` with IMM / reverse-KD / noising; settings: :class:`TrainerSettings`."""

    def __init__(self, *args, restricted=None, history_ids=None, **kwargs):
        names = TrainerSettings.__dataclass_fields__
        self.imm = TrainerSettings(**{k: kwargs.pop(k) for k in list(kwargs) if k in names})
        model = kwargs.get("model", args[0] if args else None)
        train = kwargs.get("train_dataset")
        tok = kwargs.get("processing_class")
        vocab = check_model(model, self.imm, train, tok, restricted)
        check_settings(self.imm, restricted, kwargs.get("args"))
        super().__init__(*args, **kwargs)
        # compute_loss always shifts labels, so num_items_in_batch must count labels[..., 1:].
        # Trainer infers that from model.loss_type, which is None for models built from a
        # config; this private flag is the only switch (no public hook exists).
        self._loss_shifts_labels = True
        self.restricted, self.vocab = restricted, vocab
        self.gen = torch.Generator().manual_seed(self.args.seed + 1)
        self.ratio = core.ratio_from_lambda(self.imm.imm_lambda)
        self.histories = self._histories(history_ids, train)
        self.noiser = (BigramNoiser(restricted, self.imm.noise_gamma)
                       if self.imm.method == "noising" else None)
        self.buffer = induced.LogitBuffer(self.imm.in_batch_buffer)

    def _histories(self, history_ids, train):
        if self.imm.method != "imm" or self.imm.induced != "sampled":
            return None
        if history_ids is None:
            if not hasattr(train, "blocks"):
                raise ValueError("history_ids: the sampled estimator needs the training token "
                                 "stream; pass history_ids (or a text_corpus train_dataset)")
            history_ids = train.blocks.reshape(-1)
        return HistorySampler(history_ids, self.imm.imm_length)

    # ------------------------------------------------------------------ the loss

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        training = model.training and torch.is_grad_enabled()
        if training and self.noiser is not None:
            inputs["input_ids"], labels = self._noise(inputs["input_ids"], labels)
        prev, targets = inputs["input_ids"][:, :-1], labels[:, 1:]
        valid = targets != -100
        share, denom = self._share(valid, num_items_in_batch)
        imm_due = training and self.imm.method == "imm" and self._imm_due()
        serialized = None
        if imm_due and self.imm.induced == "sampled" and self.imm.serialized_chunk > 0:
            serialized = self._serialized_imm(model, prev, valid, share)  # before the DDP forward
        outputs = model(**inputs)
        logits = outputs.logits[:, :-1]  # [B, T-1, V]
        flat, ok, t = logits.reshape(-1, logits.shape[-1]), valid.reshape(-1), targets.reshape(-1)
        main_sum = torch.nn.functional.cross_entropy(upcast(flat[ok]), t[ok], reduction="sum")
        loss = main_sum / denom
        if training:
            self._track(M.LOSS_MAIN, main_sum.detach() / ok.sum().clamp(min=1))
            loss = self._extra(model, loss, flat, prev.reshape(-1), ok, share, imm_due, serialized)
        return (loss, outputs) if return_outputs else loss

    def _share(self, valid, num_items_in_batch):
        """(weight of a per-micro-batch mean, main-loss divisor); see the module doc."""
        n_local = valid.sum()
        if num_items_in_batch is None:
            self.loss_is_scaled_for_ga = False  # Trainer divides by the accumulation steps
            return 1.0, n_local.clamp(min=1)
        self.loss_is_scaled_for_ga = True
        procs = self.accelerator.num_processes
        scale = procs if self.args.average_tokens_across_devices and procs > 1 else 1
        exact = torch.float32 if valid.device.type == "mps" else torch.float64  # share of a sum
        total = torch.as_tensor(num_items_in_batch, device=valid.device, dtype=exact)
        return scale * n_local / total, total / scale

    def _extra(self, model, loss, flat, prev, ok, share, imm_due, serialized):
        method = self.imm.method
        if method == "reverse_kd":
            pos = induced.choose_positions(ok, self.imm.imm_positions, self.gen)
            probs = padded_probs(self.restricted, prev[pos], self.vocab)
            kd = core.reverse_kd_loss(flat[pos], probs)
            self._track(M.LOSS_KD, kd.detach())
            return core.mix_losses(loss, kd * share, self.ratio)
        if not imm_due:
            return loss
        if serialized is not None:
            self._track(M.LOSS_IMM, serialized)
            return (1 - self.ratio) * loss
        pos = induced.choose_positions(ok, self.imm.imm_positions, self.gen)
        if self.imm.induced == "in_batch":
            imm = self._in_batch_imm(flat, prev, ok, pos)
        else:
            imm = self._sampled_imm(model, prev[pos])
        if imm is None:
            return loss
        core.assert_finite(imm.detach(), M.LOSS_IMM)
        self._track(M.LOSS_IMM, imm.detach())
        return core.mix_losses(loss, imm * share, self.ratio)

    def _in_batch_imm(self, flat, prev, ok, pos):
        idx = ok.nonzero().squeeze(-1)  # candidates: every labelled position
        where = torch.searchsorted(idx, pos)  # pos is a subset of idx
        buf = self.buffer
        samples, weights = induced.in_batch_samples(
            flat[idx], prev[idx], where, self.imm.k, self.gen, buf.logits, buf.tokens)
        probs = padded_probs(self.restricted, prev[pos], self.vocab)
        imm = core.imm_loss(samples, probs, weights)
        buf.push(flat[idx], prev[idx], self.gen)
        return imm

    def _windows(self, words):
        """Previous tokens ``[N]`` -> (windows ``[N', k, L]``, ``Pbar`` ``[N', V]``) for
        the tokens that end some training window (others have no history to sample)."""
        words = words[self.histories.available(words.cpu()).to(words.device)]
        if len(words) == 0:
            return None, None
        windows = self.histories.sample(words.cpu(), self.imm.k, self.gen).to(words.device)
        return windows, padded_probs(self.restricted, words, self.vocab)

    def _last_logits(self, model):
        inner = self.accelerator.unwrap_model(model)  # never a second forward through DDP
        return lambda ids: inner(input_ids=ids, logits_to_keep=1).logits[:, -1]

    def _sampled_imm(self, model, words):
        windows, probs = self._windows(words)
        if windows is None:
            return None
        n, k, length = windows.shape
        logits = self._last_logits(model)(windows.view(n * k, length)).view(n, k, -1)
        return core.imm_loss(logits, probs)

    def _serialized_imm(self, model, prev, valid, share):
        pos = induced.choose_positions(valid.reshape(-1), self.imm.imm_positions, self.gen)
        windows, probs = self._windows(prev.reshape(-1)[pos])
        if windows is None:
            return None
        coef = self.ratio * share
        if not self.loss_is_scaled_for_ga:
            coef = coef / self.current_gradient_accumulation_steps
        coef = float(coef)
        return core.serialized_imm_backward(self._last_logits(model), windows, probs,
                                            self.imm.serialized_chunk, imm_lambda=coef)

    def _noise(self, ids, labels):
        noised, _ = self.noiser.noise(ids, generator=self.gen)
        return noised, torch.where(labels == -100, labels, noised)

    def _imm_due(self) -> bool:
        return self.state.global_step % self.imm.imm_every == 0
