"""The in_batch estimator against an explicit loop over batch positions (float64)."""

from __future__ import annotations

import torch

from imm_ray import core
from imm_ray.lm.hf.induced import LogitBuffer, choose_positions, in_batch_samples


def slow_in_batch_loss(logits, tokens, contexts, probs):
    """For each context: Qbar = mean of softmax over every position with its token."""
    losses = []
    for i, c in enumerate(contexts.tolist()):
        members = [p for p in range(len(tokens)) if tokens[p] == tokens[c]]
        qbar = torch.stack([logits[p].softmax(-1) for p in members]).mean(0)
        losses.append(-(probs[i] * qbar.log()).sum())
    return torch.stack(losses).mean()


def make(p=40, v=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(p, v, generator=g, dtype=torch.float64, requires_grad=True)
    tokens = torch.randint(0, 5, (p,), generator=g)
    probs = torch.softmax(torch.randn(p, v, generator=g, dtype=torch.float64), -1)
    return logits, tokens, probs, g


def test_in_batch_equals_the_group_mean_loop_with_its_gradient():
    logits, tokens, probs, g = make()
    contexts = torch.tensor([0, 3, 7, 7, 20, 39])
    samples, weights = in_batch_samples(logits, tokens, contexts, k=40, generator=g)
    fast = core.imm_loss(samples, probs[contexts], weights)
    slow = slow_in_batch_loss(logits, tokens, contexts, probs[contexts])
    assert torch.allclose(fast, slow, atol=1e-12)
    g_fast, = torch.autograd.grad(fast, logits)
    g_slow, = torch.autograd.grad(slow, logits)
    assert torch.allclose(g_fast, g_slow, atol=1e-12)


def test_k_caps_the_group_at_k_distinct_positions_with_the_same_token():
    logits, tokens, probs, g = make(p=200)
    contexts = torch.arange(10)
    samples, weights = in_batch_samples(logits, tokens, contexts, k=3, generator=g)
    assert samples.shape == (10, 3, 7) and torch.allclose(weights, torch.full((10, 3), 1 / 3,
                                                                               dtype=weights.dtype))
    for i, c in enumerate(contexts.tolist()):  # every sample is a row with the context's token
        rows = [torch.nonzero((logits == s).all(-1)).item() for s in samples[i]]
        assert len(set(rows)) == 3 and all(tokens[r] == tokens[c] for r in rows)


def test_the_buffer_joins_the_pool_detached():
    logits, tokens, probs, g = make()
    old, old_tokens, _, _ = make(seed=1)
    buf = LogitBuffer(capacity=30)
    buf.push(old, old_tokens, g)
    assert buf.logits.shape == (30, 7) and not buf.logits.requires_grad
    contexts = torch.tensor([1, 2])
    samples, weights = in_batch_samples(logits, tokens, contexts, 100, g, buf.logits.double(),
                                        buf.tokens)
    all_logits = torch.cat([logits, buf.logits.double()])
    all_tokens = torch.cat([tokens, buf.tokens])
    pool = torch.cat([contexts, torch.arange(len(tokens), len(all_tokens))])
    slow = slow_in_batch_loss(all_logits, all_tokens, contexts, probs[contexts])
    assert torch.allclose(core.imm_loss(samples, probs[contexts], weights), slow, atol=1e-12)
    assert len(pool) > len(contexts)


def test_choose_positions_draws_distinct_valid_positions():
    valid = torch.tensor([True, False, True, True, False, True])
    assert choose_positions(valid, 0, None).tolist() == [0, 2, 3, 5]
    picked = choose_positions(valid, 2, torch.Generator().manual_seed(0))
    assert len(set(picked.tolist())) == 2 and valid[picked].all()
