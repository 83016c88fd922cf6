"""Models, the IMM term (batched vs loop, serialized vs plain), methods, resume."""

from __future__ import annotations

import math

import pytest
import torch

from imm_ray import core
from imm_ray.lm.config import LMConfig
from imm_ray.lm.models import LSTMLM, TransformerLM
from imm_ray.lm.trainer import LMTrainer

SMALL = dict(emb_size=16, hidden_size=16, batch_size=4, bptt=8, eval_batch_size=2,
             optimizer="adam", lr=3e-3, epochs=1, k=3, imm_length=5, imm_contexts=6,
             train_fraction=0.3)


def make(path, **kw) -> LMTrainer:
    return LMTrainer(LMConfig(data_path=str(path), **{**SMALL, **kw}))


@pytest.mark.parametrize("cls", [LSTMLM, TransformerLM])
def test_last_logits_is_forward_at_the_last_position(cls):
    torch.manual_seed(0)
    model = cls(50, 16, 2, dropout=0.3) if cls is TransformerLM else cls(50, 16, 16)
    model.eval()
    x = torch.randint(0, 50, (5, 9))
    torch.testing.assert_close(model.last_logits(x), model(x)[0][:, -1])


@pytest.mark.parametrize("model", ["lstm", "transformer"])
def test_batched_imm_equals_per_context_loop(tiny_corpus_path, model):
    tr = make(tiny_corpus_path, model=model, method="imm")
    tr.model.double().eval()
    inputs = tr.rows[:, :8]
    windows, probs = tr.imm_batch(inputs)  # [N, k, L], [N, V]
    n, k, length = windows.shape
    assert n == 6 and probs.shape == (6, tr.vocab_size)
    batched = core.imm_loss(tr.model.last_logits(windows.view(n * k, length)).view(n, k, -1),
                            probs.double())
    loop = []
    for i in range(n):
        q = torch.stack([torch.softmax(tr.model(windows[i, j:j + 1])[0][0, -1], -1)
                         for j in range(k)]).mean(0)
        loop.append(-(probs[i].double() * q.log()).sum())
    torch.testing.assert_close(batched, torch.stack(loop).mean(), rtol=1e-10, atol=1e-10)


def _grads_after_imm(path, chunk):
    tr = make(path, method="imm", imm_chunk=chunk, dropout=0.4, seed=3)
    tr.model.double().train()
    inputs = tr.rows[:, :8]
    torch.manual_seed(7)
    windows, probs = tr.imm_batch(inputs)
    tr.model.zero_grad()
    torch.manual_seed(11)
    if chunk:
        core.serialized_imm_backward(tr.model.last_logits, windows, probs.double(), chunk,
                                     imm_lambda=0.3)
    else:
        n, k, length = windows.shape
        logits = tr.model.last_logits(windows.view(n * k, length)).view(n, k, -1)
        (0.3 * core.imm_loss(logits, probs.double())).backward()
    return [p.grad.clone() for p in tr.model.parameters() if p.grad is not None]


def test_serialized_gradient_equals_plain_on_small_lstm(tiny_corpus_path):
    plain = _grads_after_imm(tiny_corpus_path, 0)
    for chunk in (1, 3):  # k = 3: one chunk (same dropout masks) and three chunks
        ser = _grads_after_imm(tiny_corpus_path, chunk)
        if chunk == 3:
            for a, b in zip(plain, ser, strict=True):
                torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)
        assert all(torch.isfinite(g).all() for g in ser)


def test_serialized_training_step_equals_plain_without_dropout(tiny_corpus_path):
    params = []
    for chunk in (0, 2):
        tr = make(tiny_corpus_path, method="imm", imm_chunk=chunk, dropout=0.0, seed=1,
                  optimizer="sgd", lr=0.5)
        tr.model.double()
        x, y = tr.rows[:, :8], tr.rows[:, 1:9]
        tr.train_step(x, y, None)
        params.append(torch.cat([p.detach().flatten() for p in tr.model.parameters()]))
    torch.testing.assert_close(params[0], params[1], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("method", ["none", "noising", "reverse_kd", "imm"])
@pytest.mark.parametrize("model", ["lstm", "transformer"])
def test_every_method_trains_an_epoch(tiny_corpus_path, method, model):
    tr = make(tiny_corpus_path, method=method, model=model)
    metrics = tr.end_epoch(tr.train_epoch())
    assert math.isfinite(metrics["eval/valid_ppl"]) and metrics["epoch"] == 1
    assert ("loss/imm" in metrics) == (method == "imm")
    final = tr.final_metrics()
    assert final["test_ppl"] < tr.vocab_size * 2


def test_resume_continues_exactly(tiny_corpus_path, tmp_path):
    straight = make(tiny_corpus_path, method="imm", epochs=2)
    for _ in range(2):
        straight.end_epoch(straight.train_epoch())
    first = make(tiny_corpus_path, method="imm", epochs=2)
    first.end_epoch(first.train_epoch())
    first.save(tmp_path)
    resumed = make(tiny_corpus_path, method="imm", epochs=2)
    resumed.load(tmp_path)
    assert resumed.epoch == 1
    assert dict(resumed.timers) == dict(first.timers)  # time/total_s counts both runs
    resumed.end_epoch(resumed.train_epoch())
    for a, b in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert resumed.history == straight.history
    assert sum(resumed.timers.values()) > sum(first.timers.values())


def test_checkpoint_loads_on_cpu_whatever_the_device(tiny_corpus_path, tmp_path,
                                                     monkeypatch):
    """RNG states must come back as CPU ByteTensors (set_state rejects CUDA tensors)."""
    tr = make(tiny_corpus_path, method="imm")
    tr.end_epoch(tr.train_epoch())
    tr.save(tmp_path)
    loaded = {}
    real_load = torch.load

    def spy(*args, **kwargs):
        ck = real_load(*args, **kwargs)
        loaded.update(ck, map_location=kwargs.get("map_location"))
        return ck

    monkeypatch.setattr(torch, "load", spy)
    tr.device = torch.device("cuda")  # as on a GPU run: load must not map to it
    tr.load(tmp_path)
    assert loaded["map_location"] == "cpu"
    for name in ("gen", "torch_rng"):
        assert loaded[name].device.type == "cpu" and loaded[name].dtype == torch.uint8


def test_non_finite_loss_stops_with_a_message(tiny_corpus_path):
    tr = make(tiny_corpus_path, method="none")
    with torch.no_grad():
        tr.model.out.bias.fill_(float("nan"))
    with pytest.raises(core.NonFiniteLossError, match="loss/main"):
        tr.train_epoch()


def test_imm_waits_for_start_step_and_perplexity(tiny_corpus_path):
    tr = make(tiny_corpus_path, method="imm", imm_start_step=3, imm_every=2)
    due = []
    for s in range(8):
        tr.step = s
        due.append(tr._imm_due())
    assert due == [False, False, False, False, True, False, True, False]
    tr = make(tiny_corpus_path, method="imm", imm_start_ppl=1.0)
    metrics = tr.end_epoch(tr.train_epoch())
    assert "loss/imm" not in metrics and metrics["imm_active"] == 0.0


def test_bad_config_is_rejected():  # every field: tests/lm/test_lm_config.py
    with pytest.raises(ValueError, match="method"):
        LMConfig(method="kd")
    with pytest.raises(ValueError, match="model"):
        LMConfig(model="gru")
