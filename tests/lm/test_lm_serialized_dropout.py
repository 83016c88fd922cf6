"""The paper preset's gradient path: serialized IMM with several chunks (chunk < k) and
dropout equals autograd through ``core.imm_loss`` with the same dropout masks (float64).

The reference draws the masks the way the serialized pass does: the k histories are run
chunk by chunk from the same RNG state, so chunk j sees the same dropout draws in both.
"""

from __future__ import annotations

import pytest
import torch

from imm_ray import core
from imm_ray.lm.models import build_model

V, N, K, L, CHUNK = 37, 5, 7, 6, 3  # 7 = 3 + 3 + 1: uneven chunks too


def _setup(name: str):
    torch.manual_seed(0)
    model = build_model(name, V, emb_size=12, hidden_size=10, num_layers=2, dropout=0.65,
                        tie_weights=False, num_heads=3, max_len=L).double().train()
    windows = torch.randint(0, V, (N, K, L))
    probs = torch.softmax(torch.randn(N, V, dtype=torch.float64), -1)
    return model, windows, probs


def _grads(model) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


def _reference(model, windows, probs, imm_lambda: float) -> tuple[torch.Tensor, list]:
    """Autograd through imm_loss, logits computed chunk by chunk (the serialized masks)."""
    model.zero_grad(set_to_none=False)
    parts = [model.last_logits(windows[:, s:s + CHUNK].reshape(-1, L)).view(N, -1, V)
             for s in range(0, K, CHUNK)]
    loss = core.imm_loss(torch.cat(parts, dim=1), probs)
    (imm_lambda * loss).backward()
    return loss.detach(), _grads(model)


@pytest.mark.parametrize("name", ["lstm", "transformer"])
def test_serialized_with_chunks_and_dropout_equals_autograd(name):
    model, windows, probs = _setup(name)
    imm_lambda = 0.2
    torch.manual_seed(123)
    ref_loss, ref = _reference(model, windows, probs, imm_lambda)
    model.zero_grad(set_to_none=False)
    torch.manual_seed(123)
    loss = core.serialized_imm_backward(model.last_logits, windows, probs, CHUNK,
                                        imm_lambda=imm_lambda)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-10, atol=1e-12)
    for a, b in zip(_grads(model), ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-10)
    assert sum(float(g.abs().sum()) for g in ref) > 0


@pytest.mark.parametrize("name", ["lstm", "transformer"])
def test_the_comparison_can_fail_other_masks_differ(name):
    """Guard: with other dropout draws the gradients differ (the test above is not vacuous)."""
    model, windows, probs = _setup(name)
    torch.manual_seed(123)
    _, ref = _reference(model, windows, probs, 0.2)
    model.zero_grad(set_to_none=False)
    torch.manual_seed(999)
    core.serialized_imm_backward(model.last_logits, windows, probs, CHUNK, imm_lambda=0.2)
    diff = max(float((a - b).abs().max()) for a, b in zip(_grads(model), ref, strict=True))
    assert diff > 1e-6
