"""The generic batched trainer against slow twins: the first release's binary toy
objective, explicit loops over rows and pool members, single fits, exact solutions."""

import pytest
import torch
import torch.nn.functional as F

from imm_ray import core
from imm_ray.experiments.lambda_vs_n.config import ToyConfig
from imm_ray.experiments.lambda_vs_n.toy.data import ToyData, induced_weights, sample_batch
from imm_ray.experiments.lambda_vs_n.toy.trainer import train_set
from imm_ray.tabular.config import FitConfig
from imm_ray.tabular.models import MLP, LinearSoftmax
from imm_ray.tabular.objective import Induced, Objective
from imm_ray.tabular.optim import minimize_adam, minimize_bfgs
from imm_ray.tabular.trainer import (
    EvalSet,
    TrainSet,
    evaluate,
    evaluate_interpolate,
    fit_models,
    reporting_fits,
)

FIT = FitConfig()
GEN = torch.Generator().manual_seed(0)


class BinaryToyObjective:
    """The toy's objective as the first release wrote it (sigmoid / BCE on ``w . (1, x,
    xb)``, pairs as ``a_i + b_j``): the multiclass trainer must reduce to it."""

    def __init__(self, method, features, y, pbar, pool_weights, ratio, l2):
        self.method, self.f, self.y, self.pbar = method, features, y.double(), pbar
        self.pool_weights, self.ratio, self.l2 = pool_weights, ratio, l2

    def __call__(self, w, idx):
        f, y = self.f[idx], self.y[idx]
        z = (f * w[:, None, :]).sum(-1)
        main = F.binary_cross_entropy_with_logits(z, y, reduction="none").mean(-1)
        penalty = 0.5 * self.l2 * (w * w).sum(-1)
        if self.method == "none":
            return main + penalty
        pbar = self.pbar[idx]
        two = lambda t: F.pad(t.unsqueeze(-1), (1, 0))
        if self.method == "reverse_kd":
            extra = core.reverse_kd_loss(two(z), pbar, reduction="none").mean(-1)
        else:
            a = (f[..., :2] * w[:, None, :2]).sum(-1)
            b = (f[..., 2:] * w[:, None, 2:]).sum(-1)
            pairs = a.unsqueeze(-1) + b.unsqueeze(-2)
            pw = None if self.pool_weights is None else self.pool_weights[idx]
            if self.method == "imm":
                extra = core.imm_loss(two(pairs), pbar, sample_weights=pw,
                                      reduction="none").mean(-1)
            else:
                nll = F.binary_cross_entropy_with_logits(
                    pairs, y.unsqueeze(-1).expand_as(pairs), reduction="none")
                extra = (nll.mean(-1) if pw is None else (nll * pw).sum(-1)).mean(-1)
        return core.mix_losses(main, extra, self.ratio[idx]) + penalty


def toy_models(rho, seeds, ratios, n):
    cfg = ToyConfig(rho=rho)
    data = sample_batch(cfg.problem(), seeds, n)
    data = ToyData(*(t.repeat_interleave(len(ratios), 0) for t in data))
    ts = train_set(cfg, data, [s for s in seeds for _ in ratios])
    return cfg, data, ts, torch.tensor(ratios, dtype=torch.float64).repeat(len(seeds))


@pytest.mark.parametrize("method", ["none", "imm", "reverse_kd", "noising"])
@pytest.mark.parametrize("rho", [0.0, 0.5])
def test_multiclass_trainer_reduces_to_the_binary_toy_trainer(method, rho):
    cfg, data, ts, ratio = toy_models(rho, [0, 1, 2], [0.0, 0.6, 0.99], 10)
    model = LinearSoftmax(4, 2, 2)
    new = fit_models(model, ts, method, ratio, FIT)
    old_obj = BinaryToyObjective(method, ts.features, data.y, ts.restricted_probs,
                                 induced_weights(cfg.problem(), data.x, cfg.num_bins), ratio,
                                 FIT.l2)
    old = minimize_bfgs(old_obj, torch.zeros(len(ratio), 4, dtype=torch.float64),
                        init_inv_hessian=model.init_inv_hessian(ts.features, FIT.l2))
    assert torch.allclose(new.params, old.params, atol=1e-10, rtol=0)
    assert torch.equal(new.iterations, old.iterations) and bool(new.converged.all())
    w = new.params
    new_obj = Objective(method, model, ts.features, ts.y, ts.restricted_probs, ts.induced,
                        ratio, FIT.l2)
    assert torch.allclose(new_obj(w, torch.arange(len(w))), old_obj(w, torch.arange(len(w))),
                          atol=1e-13, rtol=0)


def random_problem(m=3, n=6, p=5, r=2, c=3, kind="neighbours", k=3):
    f = torch.randn(m, n, p, dtype=torch.float64, generator=GEN)
    f[..., 0] = 1.0
    y = torch.randint(c, (m, n), generator=GEN)
    pbar = torch.softmax(torch.randn(m, n, c, dtype=torch.float64, generator=GEN), -1)
    if kind == "pool":
        induced = Induced()
    elif kind == "groups":
        key = torch.randint(2, (m, n), generator=GEN)
        same = (key.unsqueeze(-1) == key.unsqueeze(-2)).double()
        induced = Induced(weights=same / same.sum(-1, keepdim=True))
    else:
        induced = Induced(index=torch.randint(n, (m, n, k), generator=GEN))
    return f, y, pbar, induced


def slow_objective(method, model, w, f, y, pbar, induced, ratio, l2):
    """One model, explicit loops over rows i and pool members j (float64)."""
    n, r = len(y), model.r
    logits = lambda row: model.logits(w.unsqueeze(0), row.view(1, 1, -1))[0, 0]
    main = sum(-torch.log_softmax(logits(f[i]), -1)[y[i]] for i in range(n)) / n
    penalty = 0.5 * l2 * (w * w).sum()
    if method == "none":
        return main + penalty
    extra = 0.0
    for i in range(n):
        members = range(n) if induced.index is None else induced.index[i].tolist()
        k = len(members)
        pi = [1.0 / k] * k if induced.weights is None else induced.weights[i].tolist()
        pair = [torch.cat([f[i, :r], f[j, r:]]) for j in members]
        if method == "imm":
            qbar = sum(p * torch.softmax(logits(x), -1) for p, x in zip(pi, pair, strict=True))
            extra = extra - (pbar[i] * torch.log(qbar)).sum()
        elif method == "reverse_kd":
            extra = extra - (pbar[i] * torch.log_softmax(logits(f[i]), -1)).sum()
        else:
            extra = extra + sum(-p * torch.log_softmax(logits(x), -1)[y[i]]
                                for p, x in zip(pi, pair, strict=True))
    return (1 - ratio) * main + ratio * extra / n + penalty


@pytest.mark.parametrize("method", ["none", "imm", "reverse_kd", "noising"])
@pytest.mark.parametrize("kind", ["pool", "groups", "neighbours"])
@pytest.mark.parametrize("model_kind", ["linear", "mlp"])
def test_objective_matches_an_explicit_loop(method, kind, model_kind):
    f, y, pbar, induced = random_problem(kind=kind)
    model = LinearSoftmax(5, 3, 2) if model_kind == "linear" else MLP(5, 3, 2, hidden=4)
    ratio = torch.tensor([0.0, 0.4, 0.9], dtype=torch.float64)
    obj = Objective(method, model, f, y, pbar, induced, ratio, 0.01)
    w = torch.randn(3, model.num_params, dtype=torch.float64, generator=GEN)
    fast = obj(w, torch.arange(3))
    for m in range(3):
        ind = Induced(None if induced.index is None else induced.index[m],
                      None if induced.weights is None else induced.weights[m])
        slow = slow_objective(method, model, w[m], f[m], y[m], pbar[m], ind,
                              ratio[m].item(), 0.01)
        assert fast[m].item() == pytest.approx(float(slow), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("model_kind", ["linear", "mlp"])
def test_pair_logits_equal_the_logits_of_the_built_pairs(model_kind):
    f, _, _, induced = random_problem(kind="neighbours", k=4)
    model = LinearSoftmax(5, 3, 2) if model_kind == "linear" else MLP(5, 3, 2, hidden=4)
    w = torch.randn(3, model.num_params, dtype=torch.float64, generator=GEN)
    fast = model.pair_logits(w, f, induced.index)  # [3, 6, 4, 3]
    rows = torch.arange(3).view(3, 1, 1)
    built = torch.cat([f[..., :2].unsqueeze(2).expand(-1, -1, 4, -1),
                       f[rows, induced.index][..., 2:]], -1)  # [3, 6, 4, 5]
    slow = model.logits(w, built.reshape(3, 24, 5)).view(3, 6, 4, 3)
    assert torch.allclose(fast, slow, atol=1e-12)
    whole = model.pair_logits(w, f, None)
    assert whole.shape == (3, 6, 6, 3)
    assert torch.allclose(whole[:, 2, 5], model.logits(w, torch.cat(
        [f[:, 2, :2], f[:, 5, 2:]], -1).unsqueeze(1))[:, 0], atol=1e-12)


def test_two_class_linear_model_is_binary_logistic_regression():
    model = LinearSoftmax(4, 2, 2)
    w = torch.randn(5, 4, dtype=torch.float64, generator=GEN)
    f = torch.randn(5, 7, 4, dtype=torch.float64, generator=GEN)
    p1 = torch.softmax(model.logits(w, f), -1)[..., 1]
    assert torch.allclose(p1, torch.sigmoid((f * w[:, None]).sum(-1)), atol=1e-14)


@pytest.mark.parametrize("c", [2, 3])
def test_initial_inverse_hessian_is_the_inverse_hessian_at_zero(c):
    f, y, pbar, _ = random_problem(m=2, c=c)
    model = LinearSoftmax(5, c, 2)
    obj = Objective("none", model, f, y, pbar, Induced(), torch.zeros(2, dtype=torch.float64),
                    0.0)
    for m in range(2):
        h = torch.autograd.functional.hessian(
            lambda w, m=m: obj(w.unsqueeze(0), torch.tensor([m]))[0],
            torch.zeros(model.num_params, dtype=torch.float64))
        expected = torch.linalg.inv(h + 0.01 * torch.eye(model.num_params, dtype=torch.float64))
        assert torch.allclose(model.init_inv_hessian(f, 0.0)[m], expected, atol=1e-10)


def multiclass_train_set(m, n, kind, c=3, seeds=None):
    f, y, pbar, induced = random_problem(m=m, n=n, c=c, kind=kind)
    return TrainSet(f, y, pbar, induced, tuple(seeds or range(m)))


@pytest.mark.parametrize("method", ["none", "imm", "reverse_kd", "noising"])
@pytest.mark.parametrize("model_kind", ["linear", "mlp"])
def test_batched_fit_equals_fitting_each_model_alone(method, model_kind):
    ts = multiclass_train_set(4, 8, "neighbours")
    model = LinearSoftmax(5, 3, 2) if model_kind == "linear" else MLP(5, 3, 2, hidden=3)
    fit = FitConfig(model=model_kind, l2=0.01, epochs=60, lr=0.05)
    ratio = torch.tensor([0.0, 0.3, 0.7, 0.95], dtype=torch.float64)
    together = fit_models(model, ts, method, ratio, fit)
    for m in range(4):
        alone = fit_models(model, ts.take(torch.tensor([m])), method, ratio[m:m + 1], fit)
        assert torch.allclose(together.params[m], alone.params[0], atol=1e-9, rtol=0)
        assert together.iterations[m] == alone.iterations[0]
    if model_kind == "linear":
        assert bool(together.converged.all()) and together.grad_norm.max() < fit.tol


def test_fit_reaches_the_stationary_point_and_chunks_do_not_matter():
    ts = multiclass_train_set(4, 9, "groups")
    model = LinearSoftmax(5, 3, 2)
    ratio = torch.tensor([0.2, 0.5, 0.8, 0.99], dtype=torch.float64)
    fit = FitConfig(l2=0.01)
    whole = fit_models(model, ts, "imm", ratio, fit)
    obj = Objective("imm", model, ts.features, ts.y, ts.restricted_probs, ts.induced, ratio,
                    0.01)
    w = whole.params.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(obj(w, torch.arange(4)).sum(), w)
    assert g.norm(dim=-1).max() < 1e-6
    seen = []
    with reporting_fits(lambda fitted, total: seen.append((fitted, total))):
        chunked = fit_models(model, ts, "imm", ratio, FitConfig(l2=0.01, max_pairs=81))  # 1/chunk
    assert torch.allclose(whole.params, chunked.params, atol=1e-9, rtol=0)
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]  # a trial's progress: fits done
    fit_models(model, ts, "imm", ratio, fit)
    assert len(seen) == 4  # outside the block nothing is reported


def test_bfgs_solves_independent_quadratics_exactly_and_adam_is_per_model():
    a = torch.randn(5, 3, 3, dtype=torch.float64, generator=GEN)
    h = a @ a.transpose(1, 2) + 0.1 * torch.eye(3, dtype=torch.float64)
    b = torch.randn(5, 3, dtype=torch.float64, generator=GEN)
    loss = lambda w, idx: (0.5 * (w.unsqueeze(1) @ h[idx] @ w.unsqueeze(-1)).flatten()
                           - (b[idx] * w).sum(-1))
    res = minimize_bfgs(loss, torch.zeros(5, 3, dtype=torch.float64), tol=1e-10)
    assert torch.allclose(res.params, torch.linalg.solve(h, b), atol=1e-8)
    assert bool(res.converged.all())
    both = minimize_adam(loss, torch.zeros(5, 3, dtype=torch.float64), steps=50, lr=0.1)
    one = minimize_adam(lambda w, idx: loss(w, idx + 2), torch.zeros(1, 3, dtype=torch.float64),
                        steps=50, lr=0.1)
    assert torch.allclose(both.params[2], one.params[0], atol=1e-12)


def test_non_finite_objective_raises_a_clear_error():
    loss = lambda w, idx: (w * float("nan")).sum(-1)
    with pytest.raises(core.NonFiniteLossError, match="training objective is not finite"):
        minimize_bfgs(loss, torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(core.NonFiniteLossError, match="training objective is not finite"):
        minimize_adam(loss, torch.zeros(2, 3, dtype=torch.float64), steps=3, lr=0.1)


@pytest.mark.parametrize("model_kind", ["linear", "mlp"])
def test_evaluate_and_interpolate_match_direct_formulas(model_kind):
    c, t = 3, 500
    model = LinearSoftmax(5, c, 2) if model_kind == "linear" else MLP(5, c, 2, hidden=4)
    f = torch.randn(2, t, 5, dtype=torch.float64, generator=GEN)
    f[..., 0] = 1
    y = torch.randint(c, (2, t), generator=GEN)
    pbar = torch.softmax(torch.randn(2, t, c, dtype=torch.float64, generator=GEN), -1)
    held = EvalSet(f, y, pbar)
    w = torch.randn(4, model.num_params, dtype=torch.float64, generator=GEN)
    group = torch.tensor([0, 1, 1, 0])
    ev = evaluate(model, w, held, group)
    it = evaluate_interpolate(model, w, held, group, [0.0, 0.3])
    for m in range(4):
        g = group[m]
        q = torch.softmax(model.logits(w[m:m + 1], f[g])[0], -1)
        assert ev["log_loss"][m].item() == pytest.approx(
            -torch.log(q[torch.arange(t), y[g]]).mean().item(), abs=1e-5)
        assert ev["accuracy"][m].item() == (q.argmax(-1) == y[g]).double().mean().item()
        mix = 0.7 * q + 0.3 * pbar[g]
        assert it["log_loss"][m, 0] == ev["log_loss"][m]
        assert it["log_loss"][m, 1].item() == pytest.approx(
            -torch.log(mix[torch.arange(t), y[g]]).mean().item(), abs=1e-5)
        assert it["accuracy"][m, 1].item() == (mix.argmax(-1) == y[g]).double().mean().item()
