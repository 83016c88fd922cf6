"""IMMTrainer: estimators against explicit loops, the serialized gradient against autograd,
gradient accumulation against the big batch (float64), logs, autocast, model families."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imm_ray.lm.hf import BlockDataset, IMMTrainer, build_model


def batch_of(corpus, n=4):
    items = [corpus.train[i] for i in range(n)]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def make_trainer(corpus, kn, make_args, model=None, **settings):
    model = model or build_model("gpt2-tiny", corpus.vocab_size, 32, dropout=0.0).double()
    return IMMTrainer(model=model, args=make_args(), train_dataset=corpus.train,
                      restricted=kn, **settings)


def test_sampled_estimator_equals_an_explicit_loop_over_windows(corpus, kn, make_args):
    tr = make_trainer(corpus, kn, make_args, method="imm", induced="sampled", k=3,
                      imm_length=5)
    words = torch.as_tensor(corpus.train_ids[100:112])
    state = tr.gen.get_state()
    fast = tr._sampled_imm(tr.model, words)
    tr.gen.set_state(state)
    windows, probs = tr._windows(words)
    losses = []
    for i in range(len(windows)):
        q = torch.stack([tr.model(input_ids=w[None]).logits[0, -1].softmax(-1)
                         for w in windows[i]]).mean(0)
        losses.append(-(probs[i].double() * q.log()).sum())
    assert torch.allclose(fast, torch.stack(losses).mean(), atol=1e-10)


def test_serialized_gradient_equals_autograd(corpus, kn, make_args):
    grads = []
    for chunk in (0, 2):
        model = build_model("gpt2-tiny", corpus.vocab_size, 32, dropout=0.0).double()
        tr = make_trainer(corpus, kn, make_args, model=model, method="imm", k=5,
                          imm_length=6, imm_positions=10, serialized_chunk=chunk)
        tr.current_gradient_accumulation_steps = 1
        tr.model.train()
        tr.compute_loss(tr.model, batch_of(corpus)).backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    assert grads[0].abs().max() > 0
    assert torch.allclose(grads[0], grads[1], atol=1e-10, rtol=1e-8)


class Masked(BlockDataset):
    """Blocks with some labels set to -100 (so num_items_in_batch matters)."""

    def __getitem__(self, i):
        item = super().__getitem__(i)
        if i % 3 == 0:
            item["labels"][: 5 + i] = -100
        return item


@pytest.mark.parametrize("settings", [
    dict(method="none"),
    dict(method="reverse_kd", imm_positions=0),
    dict(method="imm", induced="sampled", imm_positions=0, k=2, imm_length=3),
    dict(method="imm", induced="sampled", imm_positions=0, k=2, imm_length=3,
         serialized_chunk=1),
], ids=["none", "reverse_kd", "imm_sampled", "imm_serialized"])
def test_gradient_accumulation_gives_the_big_batch_update(corpus, kn, make_args, settings):
    """One SGD step on 8 blocks: 1 x 8 equals 4 x 2 accumulated, in float64. The history
    stream ends each window (positions >= L - 1 = 2) with each token once, so the sampled
    windows do not depend on the RNG and no context is dropped."""
    data = Masked(corpus.train_ids[: 8 * 16], 16, corpus.vocab_size)
    perm = np.random.default_rng(0).permutation(corpus.vocab_size)
    history = np.concatenate([perm[-2:], perm])
    params = []
    for batch, accum in ((8, 1), (2, 4)):
        model = build_model("gpt2-tiny", corpus.vocab_size, 32, dropout=0.0).double()
        tr = IMMTrainer(model=model, train_dataset=data, restricted=kn, history_ids=history,
                        args=make_args(per_device_train_batch_size=batch,
                                       gradient_accumulation_steps=accum, max_steps=1,
                                       optim="sgd", learning_rate=0.5,
                                       lr_scheduler_type="constant"),
                        **settings)
        tr.train()
        params.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    start = torch.cat([p.detach().reshape(-1) for p in build_model(
        "gpt2-tiny", corpus.vocab_size, 32, dropout=0.0).double().parameters()])
    assert (params[0] - start).abs().max() > 1e-4  # the step moved the weights
    assert torch.allclose(params[0], params[1], atol=1e-10, rtol=0)


@pytest.mark.parametrize("induced", ["in_batch", "sampled"])
def test_trainer_logs_carry_loss_main_and_loss_imm(corpus, kn, make_args, induced):
    tr = IMMTrainer(model=build_model("gpt2-tiny", corpus.vocab_size, 32),
                    args=make_args(max_steps=2, logging_steps=1), train_dataset=corpus.train,
                    restricted=kn, method="imm", induced=induced, k=4, imm_length=8,
                    in_batch_buffer=32)
    tr.train()
    logged = [h for h in tr.state.log_history if "loss" in h]
    assert len(logged) == 2
    assert all(np.isfinite(h["loss/main"]) and np.isfinite(h["loss/imm"]) for h in logged)


def test_imm_every_skips_the_term_between_imm_steps(corpus, kn, make_args):
    tr = IMMTrainer(model=build_model("gpt2-tiny", corpus.vocab_size, 32),
                    args=make_args(max_steps=3, logging_steps=1), train_dataset=corpus.train,
                    restricted=kn, method="imm", induced="in_batch", imm_every=2)
    tr.train()
    has_imm = ["loss/imm" in h for h in tr.state.log_history if "loss" in h]
    assert has_imm == [True, False, True]


def test_bf16_autocast_keeps_the_losses_in_float32(corpus, kn, make_args):
    tr = make_trainer(corpus, kn, make_args, model=build_model("gpt2-tiny", corpus.vocab_size,
                                                               32),
                      method="imm", induced="in_batch")
    tr.model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, out = tr.compute_loss(tr.model, batch_of(corpus), return_outputs=True)
    assert out.logits.dtype == torch.bfloat16
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


@pytest.mark.parametrize("name", ["llama-tiny", "qwen2-tiny", "mistral-tiny"])
def test_other_causal_lm_families_train_with_imm(corpus, kn, make_args, name):
    tr = IMMTrainer(model=build_model(name, corpus.vocab_size, 32),
                    args=make_args(max_steps=1), train_dataset=corpus.train, restricted=kn,
                    method="imm", induced="sampled", k=2, imm_length=4, imm_positions=8)
    tr.train()
    assert np.isfinite(tr.state.log_history[0]["loss/imm"])


def test_noising_changes_the_training_tokens(corpus, kn, make_args):
    tr = make_trainer(corpus, kn, make_args, method="noising", noise_gamma=1.0)
    b = batch_of(corpus)
    noised, labels = tr._noise(b["input_ids"], b["labels"])
    assert not noised.equal(b["input_ids"]) and labels.equal(noised)
    assert noised[:, 0].equal(b["input_ids"][:, 0])


@pytest.mark.parametrize("change, match", [
    (dict(model="base"), "model must be a causal LM"),
    (dict(model="small_vocab"), r"tokenizer vocabulary \(\d+\) is larger"),
    (dict(model="short"), "block_size 16 is above the model's maximum positions 8"),
    (dict(k=0), r"k must be"),
    (dict(induced="exact"), "induced .estimator. must be one of"),
    (dict(method="distill"), "method must be one of"),
    (dict(restricted=None), "restricted: method 'imm' needs a restricted model"),
    (dict(restricted="other"), "restricted model has num_classes"),
])
def test_bad_input_is_refused_before_training(corpus, kn, make_args, tokenizer, change,
                                              match):
    from transformers import GPT2Config, GPT2Model

    v = corpus.vocab_size
    models = {"base": lambda: GPT2Model(GPT2Config(n_embd=16, n_layer=1, n_head=1,
                                                   vocab_size=v)),
              "small_vocab": lambda: build_model("gpt2-tiny", v - 3, 32),
              "short": lambda: build_model("gpt2-tiny", v, 8)}
    from imm_ray.lm.hf import bigram

    restricted = {"other": bigram(corpus.train_ids, v + 1)}
    kw = dict(model=build_model("gpt2-tiny", v, 32), restricted=kn, method="imm", k=2)
    for key, value in change.items():
        kw[key] = models[value]() if key == "model" else restricted.get(value, value) \
            if key == "restricted" else value
    with pytest.raises(ValueError, match=match):
        IMMTrainer(args=make_args(), train_dataset=corpus.train, processing_class=tokenizer,
                   **kw)
