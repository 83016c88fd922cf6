"""The MLM + IMM loss on masked positions against plain loops (float64): masking, the
in-batch estimator, the masked-window sampler, and FinetuneTrainer.compute_loss for
mlm_imm (sampled and in_batch) recomputed example by example, window by window."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from finetune_helpers import bigram_of, tiny_shared, tokenizer_wp, toy_split  # noqa: F401

from imm_ray.lm.hf import glue, mlm_imm


def test_mask_tokens_respects_maskable_and_rate():
    ids = torch.arange(4000).view(40, 100) % 50 + 5
    maskable = torch.ones_like(ids, dtype=torch.bool)
    maskable[:, 0] = False
    g = torch.Generator().manual_seed(0)
    out, chosen = mlm_imm.mask_tokens(ids, maskable, 0.15, 4, 60, g)
    assert not chosen[:, 0].any() and abs(chosen.float().mean().item() - 0.15) < 0.02
    assert ((out == 4) == (chosen & (out == 4))).all()
    assert (out[~chosen] == ids[~chosen]).all()
    frac_mask = (out[chosen] == 4).float().mean().item()
    assert 0.74 < frac_mask < 0.86
    for rate in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="mask_rate must be in"):
            mlm_imm.mask_tokens(ids, maskable, rate, 4, 60, g)


def test_in_batch_imm_equals_loop():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(12, 7, dtype=torch.float64, generator=g)
    prev = torch.tensor([3, 1, 3, 2, 1, 3, 0, 2, 3, 1, 4, 3])
    probs = torch.softmax(torch.randn(12, 7, dtype=torch.float64, generator=g), -1)
    ctx = torch.tensor([0, 3, 6, 10, 11])
    got = mlm_imm.in_batch_imm(logits, prev, ctx, probs[ctx], k=10)
    want = []
    for i in ctx.tolist():
        group = [j for j in range(12) if prev[j] == prev[i]]
        qbar = sum(torch.softmax(logits[j], -1) for j in group) / len(group)
        want.append(-(probs[i] * qbar.log()).sum())
    assert torch.allclose(got, torch.stack(want).mean())


def test_sampler_windows_hold_a_masked_token_after_v():
    seqs = [[2, 5, 6, 7, 5, 8, 3], [2, 9, 5, 6, 3], [2, 6, 7, 3]]
    s = mlm_imm.MaskedContextSampler(seqs, None, [0, 1, 2, 3, 4], mask_id=4, pad_id=0,
                                     length=4)
    assert s.available(torch.tensor([5, 2, 8, 3])).tolist() == [True, True, False, False]
    ids, att, types, where = s.sample(torch.tensor([5, 2]), k=50,
                                      generator=torch.Generator().manual_seed(0))
    assert ids.shape == (100, 4) and (ids[torch.arange(100), where] == 4).all()
    assert (ids[torch.arange(100), where - 1] == torch.tensor([5, 2]).repeat_interleave(50)).all()
    assert att.sum(1).min() >= 3  # the shortest sequence has 4 tokens, windows hold 4
    with pytest.raises(ValueError, match="imm_length"):
        mlm_imm.MaskedContextSampler(seqs, None, [0], 4, 0, length=1)


def slow_loss(model, batch, trainer, seed):
    """The mixed loss recomputed with loops; the trainer's random draws replayed."""
    from imm_ray.core import ratio_from_lambda
    from imm_ray.lm.hf.induced import choose_positions

    ft, tok, kn = trainer.ft, trainer.tok, trainer.restricted
    g = torch.Generator().manual_seed(seed)
    ids, att = batch["input_ids"], batch["attention_mask"]
    special = set(tok.all_special_ids)
    maskable = torch.tensor([[int(t) not in special for t in row] for row in ids.tolist()])
    masked, chosen = mlm_imm.mask_tokens(ids, maskable & att.bool(), ft.mask_rate,
                                         tok.mask_token_id, len(tok), g)
    cls, mlm, prevs = [], [], []
    for b in range(len(ids)):
        n = int(att[b].sum())
        one = {k: v[b:b + 1, :n] for k, v in batch.items() if k != "labels"}
        logit = model.classifier(**one).logits[0]
        cls.append(-torch.log_softmax(logit, -1)[batch["labels"][b]])
        mlm_logits = model.mlm(input_ids=masked[b:b + 1, :n], attention_mask=one["attention_mask"],
                               token_type_ids=one["token_type_ids"]).logits[0]
        for t in range(n):
            if chosen[b, t]:
                mlm.append(-torch.log_softmax(mlm_logits[t], -1)[ids[b, t]])
                prevs.append(int(ids[b, t - 1]))
    prev = torch.tensor(prevs)
    ok = trainer.sampler.available(prev) if trainer.sampler is not None else \
        torch.ones(len(prev), dtype=torch.bool)
    ctx = choose_positions(ok, ft.imm_positions, g)
    if trainer.sampler is not None:
        w_ids, w_att, w_types, where = trainer.sampler.sample(prev[ctx], ft.k, g)
    imm = []
    for c, i in enumerate(ctx.tolist()):
        v = prev[i]
        row = torch.tensor([0.0 if y in special else float(kn.log_prob(v.view(1), torch.tensor(
            [y]))[0].exp()) for y in range(len(tok))], dtype=torch.float64)
        row = row / row.sum()
        if trainer.sampler is not None:
            qs = [torch.softmax(model.mlm(input_ids=w_ids[j:j + 1], attention_mask=w_att[j:j + 1],
                                          token_type_ids=w_types[j:j + 1]).logits[0, where[j]], -1)
                  for j in range(c * ft.k, (c + 1) * ft.k)]
        else:
            qs = [torch.softmax(model.mlm(input_ids=masked[b:b + 1], attention_mask=att[b:b + 1],
                                          token_type_ids=batch["token_type_ids"][b:b + 1]
                                          ).logits[0, t], -1)
                  for b, t in zip(*chosen.nonzero(as_tuple=True), strict=True)
                  if int(ids[b, t - 1]) == int(v)]
        imm.append(-(row * (sum(qs) / len(qs)).log()).sum())
    r = ratio_from_lambda(ft.imm_lambda)
    mix = (1 - r) * torch.stack(mlm).mean() + r * torch.stack(imm).mean()
    return torch.stack(cls).mean() + ft.mlm_weight * mix


@pytest.mark.parametrize("estimator", ["sampled", "in_batch"])
def test_trainer_loss_equals_slow_loop(text_dir, tokenizer_wp,  # noqa: F811
         tmp_path, estimator):
    from transformers import DataCollatorWithPadding, TrainingArguments

    from imm_ray.lm.hf.finetune_trainer import FinetuneTrainer

    tok = tokenizer_wp
    train = glue.encode_split(toy_split(text_dir, pair=True), tok, 32)
    model = tiny_shared("bert-tiny", len(tok)).double()
    kn = bigram_of(train, len(tok))
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True, seed=3)
    trainer = FinetuneTrainer(model=model, args=args, train_dataset=train, processing_class=tok,
                              restricted=kn, method="mlm_imm", induced=estimator, k=3,
                              imm_positions=4, mask_rate=0.3, imm_lambda=0.7, mlm_weight=0.5,
                              imm_length=8)
    batch = DataCollatorWithPadding(tok)([train[i] for i in range(6)])
    model.train()
    trainer.gen.manual_seed(11)
    got = trainer.compute_loss(model, dict(batch))
    want = slow_loss(model, batch, trainer, 11)
    assert abs(float(got - want)) < 1e-6, float(got - want)  # Pbar is float32 in the KN model
    assert np.isfinite(trainer._sums["loss/imm"][0])
