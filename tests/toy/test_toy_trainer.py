"""The vectorised toy trainer against slow twins: loops, single fits, exact solutions."""

import math

import pytest
import torch
import torch.nn.functional as F

from imm_ray import core
from imm_ray.samplers import IndependentPool
from imm_ray.toy.config import ToyConfig
from imm_ray.toy.data import ToyData, induced_weights, sample, sample_batch
from imm_ray.toy.optim import minimize_bfgs
from imm_ray.toy.trainer import (
    ROW_FIELDS,
    ToyObjective,
    design,
    evaluate,
    evaluate_interpolate,
    fit_models,
    pair_logits,
    train_cell,
)

CFG = ToyConfig(valid_size=2000, test_size=4000)


def batch_for(method, seeds, ratios, n, cfg=CFG):
    """Models seed-major x ratio with their objective, as ``fit_models`` builds them."""
    data = sample_batch(cfg.problem(), seeds, n)
    data = ToyData(*(t.repeat_interleave(len(ratios), 0) for t in data))
    ratio = torch.tensor(ratios, dtype=torch.float64).repeat(len(seeds))
    return data, ratio


def objective_for(method, data, ratio, cfg=CFG):
    problem = cfg.problem()
    return ToyObjective(method, design(data.x, data.xb), data.y.double(),
                        problem.restricted().probs(data.x),
                        induced_weights(problem, data.x, cfg.num_bins), ratio, cfg.l2)


def slow_objective(method, w, x, xb, y, ratio, cfg=CFG):
    """Explicit loops over i and the pool j for one model (float64)."""
    problem = cfg.problem()
    pbar = problem.restricted().prob_one(x)
    pool_w = induced_weights(problem, x.unsqueeze(0), cfg.num_bins)
    n = len(x)
    z = [w[0] + w[1] * x[i] + (w[2:] * xb[i]).sum() for i in range(n)]
    main = sum(F.softplus(z[i]) - y[i] * z[i] for i in range(n)) / n
    penalty = 0.5 * cfg.l2 * (w * w).sum()
    if method == "none":
        return main + penalty
    extra = 0.0
    for i in range(n):
        pi = [1.0 / n] * n if pool_w is None else pool_w[0, i].tolist()
        zij = [w[0] + w[1] * x[i] + (w[2:] * xb[j]).sum() for j in range(n)]
        if method == "imm":
            q1 = sum(p * torch.sigmoid(v) for p, v in zip(pi, zij, strict=True))
            extra = extra - (pbar[i] * torch.log(q1) + (1 - pbar[i]) * torch.log(1 - q1))
        elif method == "reverse_kd":
            q1 = torch.sigmoid(z[i])
            extra = extra - (pbar[i] * torch.log(q1) + (1 - pbar[i]) * torch.log(1 - q1))
        else:  # noising: expected log-loss of y_i with xb_i replaced by the pool
            extra = extra + sum(p * (F.softplus(v) - y[i] * v)
                                for p, v in zip(pi, zij, strict=True))
    return (1 - ratio) * main + ratio * extra / n + penalty


@pytest.mark.parametrize("method", ["none", "imm", "reverse_kd", "noising"])
@pytest.mark.parametrize("rho", [0.0, 0.5])
def test_objective_matches_an_explicit_loop(method, rho):
    cfg = ToyConfig(rho=rho)
    data, ratio = batch_for(method, [0, 1], [0.0, 0.7], 6, cfg)
    obj = objective_for(method, data, ratio, cfg)
    w = torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    fast = obj(w, torch.arange(4))
    for m in range(4):
        slow = slow_objective(method, w[m], data.x[m], data.xb[m], data.y[m].double(),
                              ratio[m].item(), cfg)
        assert fast[m].item() == pytest.approx(float(slow), rel=1e-12, abs=1e-12)


def test_pair_logits_equal_the_independent_pool_sampler():
    data = sample_batch(CFG.problem(), [0, 1, 2], 7)
    w = torch.randn(3, 4, dtype=torch.float64)
    fast = pair_logits(w, design(data.x, data.xb))
    for m in range(3):
        extended, weights = IndependentPool(data.xb[m]).sample(data.x[m].unsqueeze(-1), k=None)
        assert weights is None and extended.shape == (7, 7, 3)  # (x_i, xb_j)
        slow = w[m, 0] + extended @ w[m, 1:]
        assert torch.allclose(fast[m], slow, atol=1e-12)


@pytest.mark.parametrize("method", ["imm", "reverse_kd", "noising"])
def test_batched_fit_equals_fitting_each_model_alone(method):
    data, ratio = batch_for(method, [0, 1, 2], [0.0, 0.5, 0.9], 9)
    together = fit_models(data, method, ratio, CFG)
    for m in range(len(ratio)):
        one = ToyData(*(t[m:m + 1] for t in data))
        alone = fit_models(one, method, ratio[m:m + 1], CFG)
        assert torch.allclose(together.params[m], alone.params[0], atol=1e-9, rtol=0)
        assert together.iterations[m] == alone.iterations[0]
    assert bool(together.converged.all()) and together.grad_norm.max() < CFG.tol


def test_chunking_does_not_change_the_fit():
    data, ratio = batch_for("imm", [0, 1, 2, 3], [0.2, 0.8], 10)
    whole = fit_models(data, "imm", ratio, CFG)
    chunked = fit_models(data, "imm", ratio, ToyConfig(max_pairs=300))  # 3 models a chunk
    assert torch.allclose(whole.params, chunked.params, atol=1e-9, rtol=0)


def test_fit_reaches_the_stationary_point_and_ratio_zero_is_the_baseline():
    data, ratio = batch_for("imm", [4, 5], [0.0, 0.6], 12)
    fit = fit_models(data, "imm", ratio, CFG)
    obj = objective_for("imm", data, ratio)
    w = fit.params.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(obj(w, torch.arange(4)).sum(), w)
    assert g.norm(dim=-1).max() < 1e-6
    base = fit_models(ToyData(*(t[::2] for t in data)), "none", ratio[::2], CFG)
    assert torch.allclose(fit.params[::2], base.params, atol=1e-8)


def test_bfgs_solves_independent_quadratics_exactly():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(5, 3, 3, dtype=torch.float64, generator=g)
    h = a @ a.transpose(1, 2) + 0.1 * torch.eye(3, dtype=torch.float64)
    b = torch.randn(5, 3, dtype=torch.float64, generator=g)
    loss = lambda w, idx: (0.5 * (w.unsqueeze(1) @ h[idx] @ w.unsqueeze(-1)).flatten()
                           - (b[idx] * w).sum(-1))
    res = minimize_bfgs(loss, torch.zeros(5, 3, dtype=torch.float64), tol=1e-10)
    assert torch.allclose(res.params, torch.linalg.solve(h, b), atol=1e-8)
    assert bool(res.converged.all())


def test_non_finite_objective_raises_a_clear_error():
    loss = lambda w, idx: (w * float("nan")).sum(-1)
    with pytest.raises(core.NonFiniteLossError, match="toy training objective is not finite"):
        minimize_bfgs(loss, torch.zeros(2, 3, dtype=torch.float64))


def test_evaluate_and_interpolate_match_direct_formulas():
    test = sample(CFG.problem(), 0, 3000, "test")
    w = torch.randn(4, 4, dtype=torch.float64)
    z = w @ design(test.x, test.xb).T
    y = test.y.double()
    ev = evaluate(w, test, chunk=5000)  # 1 model per chunk
    direct = F.binary_cross_entropy_with_logits(z, y.expand_as(z), reduction="none").mean(-1)
    assert torch.allclose(ev["log_loss"], direct, atol=1e-6)
    assert torch.allclose(ev["accuracy"], ((z > 0).double() == y).double().mean(-1))
    pbar = CFG.problem().restricted().probs(test.x)
    it = evaluate_interpolate(w, test, pbar, [0.0, 0.4], chunk=5000)
    assert torch.allclose(it["log_loss"][:, 0], ev["log_loss"])
    mix1 = 0.6 * torch.sigmoid(z) + 0.4 * pbar[:, 1]
    ll = -(y * torch.log(mix1) + (1 - y) * torch.log(1 - mix1)).mean(-1)
    assert torch.allclose(it["log_loss"][:, 1], ll, atol=1e-10)
    assert torch.allclose(it["accuracy"][:, 1], ((mix1 > 0.5).double() == y).double().mean(-1))


def test_train_cell_rows_are_complete_and_independent_of_the_batch():
    rows, stats = train_cell(CFG, "none", 8, [0, 1, 2], [0.0, 0.5])
    assert set(rows) == set(ROW_FIELDS) and stats["models"] == 3
    assert rows["method"] == ["none"] * 3 + ["interpolate"] * 6
    assert rows["ratio"] == [0.0] * 3 + [0.0, 0.5] * 3
    assert all(math.isfinite(v) for k in ("test_log_loss", "valid_log_loss") for v in rows[k])
    imm, _ = train_cell(CFG, "imm", 8, [0, 1, 2], [0.3, 0.9])
    assert imm["seed"] == [0, 0, 1, 1, 2, 2] and imm["lambda"][1] == pytest.approx(9.0)
    alone, _ = train_cell(CFG, "imm", 8, [2], [0.9])
    # fits agree to 1e-9 (test above); evaluation runs in float32
    assert alone["test_log_loss"][0] == pytest.approx(imm["test_log_loss"][5], abs=1e-6)
    with pytest.raises(ValueError, match="unknown method"):
        train_cell(CFG, "dropout", 8, [0], [0.1])
    with pytest.raises(ValueError, match=r"ratios must be in \[0, 1\)"):
        train_cell(CFG, "imm", 8, [0], [1.0])
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        train_cell(CFG, "imm", 1, [0], [0.1])


def test_the_consistency_story_at_moderate_n():
    """IMM.md 7.1 at n = 32 (20 seeds): IMM at r = 0.8 beats the baseline, reverse-KD gets
    worse as r grows past its optimum, IMM does not."""
    seeds, n = range(20), 32
    mean = lambda m, r: sum(train_cell(CFG, m, n, seeds, r, interpolate=False)[0][
        "test_log_loss"]) / len(seeds)
    none = mean("none", [0.0])
    imm3, imm9 = mean("imm", [0.3]), mean("imm", [0.9])
    rkd3, rkd9 = mean("reverse_kd", [0.3]), mean("reverse_kd", [0.9])
    assert imm9 < none - 0.03 and imm9 <= imm3
    assert rkd9 > rkd3 + 0.05
