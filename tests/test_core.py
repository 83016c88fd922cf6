"""imm_ray.core against slow twins (explicit loops in probability space), in float64."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from imm_ray import core

D = torch.float64


def rand_probs(*shape, gen=None):
    return torch.softmax(torch.randn(*shape, generator=gen, dtype=D), dim=-1)


def naive_induced(logits, weights=None):
    """Probability-space loop: Qbar = sum_j w_j softmax(logits_j)."""
    *batch, k, c = logits.shape
    flat = logits.reshape(-1, k, c)
    w = torch.full((flat.shape[0], k), 1.0 / k, dtype=D) if weights is None else \
        weights.expand(*batch, k).reshape(-1, k)
    out = torch.zeros(flat.shape[0], c, dtype=D)
    for i in range(flat.shape[0]):
        for j in range(k):
            out[i] += w[i, j] * torch.softmax(flat[i, j], -1)
    return out.reshape(*batch, c)


# ----------------------------------------------------------------------- values


@pytest.mark.parametrize("classes", [2, 6, core.FEW_CLASSES + 4])  # both layouts
@pytest.mark.parametrize("weighted", [False, True])
def test_induced_log_probs_equals_probability_space_loop(weighted, classes):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 5, classes, generator=g, dtype=D) * 3
    w = rand_probs(3, 4, 5, gen=g) if weighted else None
    got = core.induced_log_probs(logits, w).exp()
    torch.testing.assert_close(got, naive_induced(logits, w), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("weights_shape", [None, (4, 5), (1, 4, 5), (5,)])
def test_class_first_layout_equals_the_class_last_one_with_its_gradient(weights_shape,
                                                                        monkeypatch):
    """Few classes go class-first (core.FEW_CLASSES, for speed): same values and gradient
    as the [..., k, C] path, with weights broadcast as documented."""
    g = torch.Generator().manual_seed(3)
    logits = (torch.randn(3, 4, 5, 3, generator=g, dtype=D) * 4).requires_grad_(True)
    w = None if weights_shape is None else rand_probs(*weights_shape, gen=g)
    p = rand_probs(3, 4, 3, gen=g)
    results = []
    for few in (core.FEW_CLASSES, 0):
        monkeypatch.setattr(core, "FEW_CLASSES", few)
        loss = core.imm_loss(logits, p, sample_weights=w)
        (grad,) = torch.autograd.grad(loss, logits)
        results.append((core.induced_log_probs(logits, w), loss, grad))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)


def test_imm_loss_equals_loop_and_reductions():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(7, 3, 5, generator=g, dtype=D)
    p = rand_probs(7, 5, gen=g)
    per_row = torch.stack([-(p[i] * naive_induced(logits[i:i + 1])[0].log()).sum()
                           for i in range(7)])
    torch.testing.assert_close(core.imm_loss(logits, p, reduction="none"), per_row)
    torch.testing.assert_close(core.imm_loss(logits, p), per_row.mean())
    torch.testing.assert_close(core.imm_loss(logits, p, reduction="sum"), per_row.sum())


def test_imm_loss_with_k1_is_cross_entropy():
    logits = torch.randn(4, 1, 6, dtype=D)
    p = rand_probs(4, 6)
    torch.testing.assert_close(core.imm_loss(logits, p),
                               core.reverse_kd_loss(logits[:, 0], p))


def test_reverse_kd_equals_soft_cross_entropy():
    logits, p = torch.randn(5, 8, dtype=D), rand_probs(5, 8)
    expected = torch.nn.functional.cross_entropy(logits, p)
    torch.testing.assert_close(core.reverse_kd_loss(logits, p), expected)


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_stable_for_huge_logits(scale):
    logits = torch.randn(6, 4, 10, dtype=torch.float32) * scale
    p = torch.softmax(torch.randn(6, 10), -1)
    lq = core.induced_log_probs(logits)
    assert torch.isfinite(lq).all()
    assert torch.allclose(lq.exp().sum(-1), torch.ones(6), atol=1e-5)
    assert torch.isfinite(core.imm_loss(logits, p))


def test_zero_weight_samples_are_ignored():
    logits = torch.randn(2, 3, 4, dtype=D)
    w = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], dtype=D)
    got = core.induced_log_probs(logits, w)
    torch.testing.assert_close(got[0], torch.log_softmax(logits[0, 0], -1))
    torch.testing.assert_close(got[1], core.induced_log_probs(logits[1:, :2])[0])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_reduced_in_float32(dtype):
    logits = torch.randn(4, 8, 50) * 4
    p = torch.softmax(torch.randn(4, 50), -1)
    got = core.imm_loss(logits.to(dtype), p.to(dtype))
    assert got.dtype == torch.float32
    p64 = p.to(dtype).to(D)
    ref = core.imm_loss(logits.to(dtype).to(D), p64 / p64.sum(-1, keepdim=True))
    assert abs(got.item() - ref.item()) < 1e-2 * ref.item()


def test_interpolate():
    q, p = rand_probs(3, 4), rand_probs(3, 4)
    torch.testing.assert_close(core.interpolate(q, p, 0.25), 0.75 * q + 0.25 * p)
    torch.testing.assert_close(core.interpolate(q, p, 1.0), p)
    r = torch.tensor([[0.0], [0.5], [1.0]], dtype=D)
    torch.testing.assert_close(core.interpolate(q, p, r), (1 - r) * q + r * p)


def test_mix_losses():
    a, b = torch.tensor(2.0), torch.tensor(4.0)
    assert core.mix_losses(a, b, 0.25).item() == pytest.approx(2.5)


# ----------------------------------------------------------------------- shapes


@settings(max_examples=40, deadline=None)
@given(batch=st.lists(st.integers(1, 3), min_size=0, max_size=3), k=st.integers(1, 5),
       c=st.integers(1, 6), broadcast_probs=st.booleans(), weighted=st.booleans())
def test_shapes_and_broadcasting(batch, k, c, broadcast_probs, weighted):
    logits = torch.randn(*batch, k, c, dtype=D)
    pshape = [1] * len(batch) + [c] if broadcast_probs else [*batch, c]
    p = rand_probs(*pshape)
    w = rand_probs(*([1] * len(batch)), k) if weighted else None
    per_row = core.imm_loss(logits, p, w, reduction="none")
    assert per_row.shape == tuple(batch)
    expected = -(p * naive_induced(logits, w).log()).sum(-1)
    torch.testing.assert_close(per_row, expected.expand(torch.Size(batch)))


# ----------------------------------------------------------------------- validation


def bad(match, fn, *args, exc=ValueError, **kw):
    with pytest.raises(exc, match=match):
        fn(*args, **kw)


def test_validation_errors_name_the_argument():
    logits, p = torch.randn(2, 3, 4), torch.softmax(torch.randn(2, 4), -1)
    bad("restricted_probs must be non-negative", core.imm_loss, logits,
        torch.tensor([[1.5, -0.5, 0.0, 0.0]] * 2))
    bad("restricted_probs must sum to 1", core.imm_loss, logits, p * 0.9)
    bad("restricted_probs has 5 classes but sample_logits has 4", core.imm_loss, logits,
        torch.softmax(torch.randn(2, 5), -1))
    bad(r"k \(sample_logits.shape\[-2\]\) must be >= 1", core.imm_loss,
        torch.randn(2, 0, 4), p)
    bad("sample_weights must be non-negative", core.imm_loss, logits, p,
        torch.tensor([[1.5, -0.5, 0.0]] * 2))
    bad("sample_weights must sum to 1", core.imm_loss, logits, p, torch.full((2, 3), 0.3))
    bad(r"sample_weights must be \[..., k=3\]", core.imm_loss, logits, p, torch.ones(2, 2) / 2)
    bad("reduction must be", core.imm_loss, logits, p, reduction="avg")
    bad("sample_logits must have at least 2 dims", core.induced_log_probs, torch.randn(4))
    bad("logits is not finite", core.reverse_kd_loss, torch.tensor([[0.0, float("nan")]]),
        torch.tensor([[0.5, 0.5]]), exc=core.NonFiniteLossError)
    bad("sample_logits is not finite", core.imm_loss, torch.full((1, 2, 2), float("inf")),
        torch.tensor([[0.5, 0.5]]), exc=core.NonFiniteLossError)
    bad(r"ratio must be in \[0, 1\]", core.interpolate, p, p, 1.5)
    bad(r"ratio must be in \[0, 1\)", core.mix_losses, torch.tensor(1.0), torch.tensor(1.0), 1.0)


@pytest.mark.parametrize("r", [-0.1, 1.0, 1.5, float("nan")])
def test_lambda_from_ratio_rejects_out_of_range(r):
    bad(r"ratio must be in \[0, 1\)", core.lambda_from_ratio, r)


@pytest.mark.parametrize("lam", [-0.5, float("inf"), float("nan")])
def test_ratio_from_lambda_rejects_bad_lambda(lam):
    bad("lambda must be a finite number >= 0", core.ratio_from_lambda, lam)


# ----------------------------------------------------------------------- serialized


class MLP(torch.nn.Module):
    def __init__(self, d_in=6, c=5, dropout=0.0):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(d_in, 16), torch.nn.Tanh(),
                                       torch.nn.Dropout(dropout), torch.nn.Linear(16, c))

    def forward(self, x):
        return self.net(x)


class TinyLSTM(torch.nn.Module):
    """Token windows [M, L] -> logits of the last position [M, V]."""

    def __init__(self, vocab=7, hidden=8):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, hidden)
        self.lstm = torch.nn.LSTM(hidden, hidden, num_layers=2, batch_first=True)
        self.out = torch.nn.Linear(hidden, vocab)

    def forward(self, x):
        h, _ = self.lstm(self.emb(x))
        return self.out(h[:, -1])


def autograd_grads(model, samples, p, w, scale):
    model.zero_grad()
    n, k = samples.shape[:2]
    logits = model(samples.reshape(n * k, *samples.shape[2:])).view(n, k, -1)
    loss = core.imm_loss(logits, p, w)
    (scale * loss).backward()
    return loss.detach(), [q.grad.clone() for q in model.parameters()]


def serialized_grads(model, samples, p, w, scale, chunk):
    model.zero_grad()
    loss = core.serialized_imm_backward(model, samples, p, chunk, imm_lambda=scale,
                                        sample_weights=w)
    return loss, [q.grad.clone() for q in model.parameters()]


def make_problem(kind, k, weighted, seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    n = 4
    if kind == "mlp":
        model = MLP().to(D)
        samples = torch.randn(n, k, 6, generator=g, dtype=D)
        c = 5
    else:
        model = TinyLSTM().to(D)
        samples = torch.randint(0, 7, (n, k, 5), generator=g)
        c = 7
    p = rand_probs(n, c, gen=g)
    w = rand_probs(n, k, gen=g) if weighted else None
    return model, samples, p, w


@pytest.mark.parametrize("kind", ["mlp", "lstm"])
@pytest.mark.parametrize("k,chunk", [(1, 1), (2, 3), (7, 3), (33, 5), (33, 33)])
@pytest.mark.parametrize("weighted", [False, True])
def test_serialized_gradient_equals_autograd(kind, k, chunk, weighted):
    model, samples, p, w = make_problem(kind, k, weighted, seed=k * 10 + chunk)
    loss_a, grads_a = autograd_grads(model, samples, p, w, scale=0.7)
    loss_s, grads_s = serialized_grads(model, samples, p, w, scale=0.7, chunk=chunk)
    torch.testing.assert_close(loss_s, loss_a, rtol=1e-10, atol=1e-10)
    for ga, gs in zip(grads_a, grads_s, strict=True):
        torch.testing.assert_close(gs, ga, rtol=1e-6, atol=1e-8)


def test_serialized_replays_dropout_masks():
    """With dropout active, pass 2 must see pass 1's masks: gradient equals autograd
    through the same forward run from the same RNG state."""
    model = MLP(dropout=0.5).to(D).train()
    g = torch.Generator().manual_seed(3)
    samples, p = torch.randn(3, 9, 6, generator=g, dtype=D), rand_probs(3, 5, gen=g)
    torch.manual_seed(123)
    _, grads_a = autograd_grads(model, samples, p, None, 1.0)
    torch.manual_seed(123)
    _, grads_s = serialized_grads(model, samples, p, None, 1.0, chunk=9)
    for ga, gs in zip(grads_a, grads_s, strict=True):
        torch.testing.assert_close(gs, ga, rtol=1e-6, atol=1e-8)


def test_serialized_accumulates_into_existing_grads():
    model, samples, p, _ = make_problem("mlp", 4, False, seed=5)
    _, grads = autograd_grads(model, samples, p, None, 1.0)
    model.zero_grad()
    for q in model.parameters():
        q.grad = torch.ones_like(q)
    core.serialized_imm_backward(model, samples, p, chunk_size=2)
    for q, g in zip(model.parameters(), grads, strict=True):
        torch.testing.assert_close(q.grad, g + 1)


def test_serialized_validation():
    model, samples, p, _ = make_problem("mlp", 4, False, seed=0)
    bad("chunk_size must be an integer >= 1", core.serialized_imm_backward, model, samples, p, 0)
    bad(r"restricted_probs must be \[N=4, C\]", core.serialized_imm_backward, model, samples,
        p[:2], 2)
    bad("restricted_probs has 3 classes", core.serialized_imm_backward, model, samples,
        rand_probs(4, 3), 2)
    bad(r"sample_weights must be \[N=4, k=4\]", core.serialized_imm_backward, model, samples,
        p, 2, sample_weights=torch.ones(4, 3) / 3)
    bad(r"k \(samples.shape\[1\]\) must be >= 1", core.serialized_imm_backward, model,
        samples[:, :0], p, 2)


# ----------------------------------------------------------------------- consistency


def test_imm_is_consistent_reverse_kd_is_not():
    """Small discrete problem (docs/method.md, 'Why IMM is consistent'): with the true
    restricted conditional, the true full model is a stationary point of the IMM loss but
    not of reverse-KD."""
    g = torch.Generator().manual_seed(0)
    nx, nb, c = 3, 4, 5
    p_x = rand_probs(nx, gen=g)
    pi = rand_probs(nx, nb, gen=g)                        # pi(xb | x)
    theta = (torch.randn(nx, nb, c, generator=g, dtype=D) * 2).requires_grad_()
    q_true = torch.softmax(theta.detach(), -1)
    p_bar = (pi.unsqueeze(-1) * q_true).sum(1)           # true restricted conditional

    imm = (p_x * core.imm_loss(theta, p_bar, pi, reduction="none")).sum()
    (g_imm,) = torch.autograd.grad(imm, theta)
    rkd_rows = core.reverse_kd_loss(theta, p_bar.unsqueeze(1), reduction="none")  # [nx, nb]
    rkd = (p_x.unsqueeze(1) * pi * rkd_rows).sum()
    (g_rkd,) = torch.autograd.grad(rkd, theta)
    assert g_imm.abs().max() < 1e-12
    assert g_rkd.abs().max() > 1e-2


# ----------------------------------------------------------------------- schedules


def test_ratio_lambda_round_trip():
    for r in [0.0, 0.1, 0.5, 0.9, 0.99]:
        assert core.ratio_from_lambda(core.lambda_from_ratio(r)) == pytest.approx(r)
    assert core.lambda_from_ratio(0.5) == pytest.approx(1.0)
    assert core.lambda_from_ratio(0.2) == pytest.approx(0.25)


def test_reference_rl_schedule_matches_the_rule():
    s = core.REFERENCE_RL_SCHEDULE
    for n in [10, 50, 75, 100, 150, 175, 200, 300, 400, 500]:
        assert s.ratio(n) == round(-0.0002 * n + 0.1891, 1)
        assert s(n) == pytest.approx(core.lambda_from_ratio(s.ratio(n)))
    assert s.ratio(50) == 0.2 and s.ratio(200) == 0.1
    assert s.ratio(5000) == 0.0  # clipped at 0


def test_schedules_and_make_schedule():
    assert core.ConstantSchedule(0.25)(7) == 0.25
    assert core.ConstantSchedule(0.25).ratio(7) == pytest.approx(0.2)
    log_s = core.RatioSchedule(slope=-0.1, intercept=0.9, basis="log_n")
    assert log_s.ratio(math.e) == pytest.approx(0.8)
    assert core.RatioSchedule(slope=1.0, intercept=0.0).ratio(10) == 0.999  # max_ratio clip
    assert core.make_schedule(0.3) == core.ConstantSchedule(0.3)
    assert core.make_schedule("reference_rl") is core.REFERENCE_RL_SCHEDULE
    assert core.make_schedule({"slope": 0.0, "intercept": 0.4}).ratio(3) == pytest.approx(0.4)
    bad("unknown schedule preset", core.make_schedule, "nope")
    bad("lambda must be a finite number >= 0", core.ConstantSchedule, -1.0)
    bad("dataset size n must be a finite number > 0", log_s.ratio, 0)
    bad("basis must be", core.RatioSchedule, 0.0, 0.1, "sqrt")


@pytest.mark.parametrize("values,finite", [
    ([1e308, 1e308], True),  # the sum overflows; every entry is finite
    ([-1e308, -1e308, 1.0], True),
    ([1.0, float("nan")], False), ([float("inf"), float("-inf")], False),
    ([0.0, float("-inf")], False)])
def test_assert_finite_is_exact_when_the_fast_sum_overflows(values, finite):
    t = torch.tensor(values, dtype=D)
    if finite:
        assert core.assert_finite(t, "x") is t
    else:
        with pytest.raises(core.NonFiniteLossError, match="x is not finite"):
            core.assert_finite(t, "x")


# ----------------------------------------------------------------------- continuous


def loop_imm_continuous(mean, log_std, actions, weights=None):
    """Slow twin: the mixture density by an explicit sum of Gaussian densities, per row
    and per restricted action, then the average of -log over the m actions."""
    n, k, _ = mean.shape
    m = actions.shape[1]
    out = torch.zeros(n, dtype=D)
    for r in range(n):
        for i in range(m):
            density = torch.zeros((), dtype=D)
            for j in range(k):
                w = 1.0 / k if weights is None else weights[r, j]
                comp = torch.distributions.Normal(mean[r, j], log_std[r, j].exp())
                density = density + w * comp.log_prob(actions[r, i]).sum().exp()
            out[r] -= torch.log(density) / m
    return out


@pytest.mark.parametrize("weighted", [False, True])
def test_imm_loss_continuous_equals_mixture_loop_with_monte_carlo_draws(weighted):
    g = torch.Generator().manual_seed(5)
    n, k, m, d = 4, 3, 6, 2
    mean = torch.randn(n, k, d, generator=g, dtype=D)
    log_std = torch.randn(n, k, d, generator=g, dtype=D) * 0.3
    # m actions from a restricted Gaussian Pbar(. | x), drawn with a fixed generator
    p_mean, p_std = torch.randn(n, 1, d, generator=g, dtype=D), 0.7
    actions = p_mean + p_std * torch.randn(n, m, d, generator=g, dtype=D)
    w = rand_probs(n, k, gen=g) if weighted else None
    log_q = core.gaussian_log_probs(mean, log_std, actions)  # [n, k, m]
    got = core.imm_loss_continuous(log_q, w, reduction="none")
    torch.testing.assert_close(got, loop_imm_continuous(mean, log_std, actions, w),
                               rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(core.imm_loss_continuous(log_q, w), got.mean())
    torch.testing.assert_close(core.imm_loss_continuous(log_q, w, reduction="sum"), got.sum())


def test_imm_loss_continuous_monte_carlo_converges_to_the_cross_entropy_integral():
    """1-D: the m-sample estimate is within 4 standard errors of the quadrature value of
    -int Pbar(a) log Qbar(a) da."""
    g = torch.Generator().manual_seed(0)
    mean = torch.tensor([[[-1.0], [0.5], [2.0]]], dtype=D)
    log_std = torch.tensor([[[-0.5], [0.0], [-1.0]]], dtype=D)
    m = 20_000
    actions = 0.3 + 0.8 * torch.randn(1, m, 1, generator=g, dtype=D)
    per_action = -torch.logsumexp(core.gaussian_log_probs(mean, log_std, actions), 1) + \
        math.log(3)
    est = core.imm_loss_continuous(core.gaussian_log_probs(mean, log_std, actions))
    grid = torch.linspace(-8, 8, 20_001, dtype=D)
    pbar = torch.distributions.Normal(0.3, 0.8).log_prob(grid).exp()
    log_qbar = torch.logsumexp(core.gaussian_log_probs(mean, log_std, grid.view(1, -1, 1)),
                               1)[0] - math.log(3)
    exact = -torch.trapezoid(pbar * log_qbar, grid)
    assert abs(float(est - exact)) < 4 * float(per_action.std() / math.sqrt(m))


def test_imm_loss_continuous_gradient_equals_autograd_and_the_closed_form():
    g = torch.Generator().manual_seed(1)
    log_q = (torch.randn(3, 4, 5, generator=g, dtype=D) * 2).requires_grad_(True)
    w = rand_probs(3, 4, gen=g)
    assert torch.autograd.gradcheck(lambda t: core.imm_loss_continuous(t, w), (log_q,))
    (grad,) = torch.autograd.grad(core.imm_loss_continuous(log_q, w), log_q)
    # d/d log q_ji of -(1/N)(1/m) sum_i log sum_j w_j q_ji = -(1/(N m)) w_j q_ji / Qbar_i
    with torch.no_grad():
        resp = w.unsqueeze(-1) * log_q.exp()
        expected = -resp / resp.sum(1, keepdim=True) / (3 * 5)
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-12)
    # and through the Gaussian parameters, against a loop in probability space
    mean = torch.randn(2, 3, 2, generator=g, dtype=D).requires_grad_(True)
    log_std = (torch.randn(2, 3, 2, generator=g, dtype=D) * 0.2).requires_grad_(True)
    actions = torch.randn(2, 4, 2, generator=g, dtype=D)
    fast = torch.autograd.grad(core.imm_loss_continuous(
        core.gaussian_log_probs(mean, log_std, actions)), (mean, log_std))
    slow = torch.autograd.grad(loop_imm_continuous(mean, log_std, actions).mean(),
                               (mean, log_std))
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_imm_loss_continuous_k1_is_reverse_kd_and_stable_far_out():
    g = torch.Generator().manual_seed(2)
    log_q = torch.randn(5, 1, 7, generator=g, dtype=D)
    torch.testing.assert_close(core.imm_loss_continuous(log_q, reduction="none"),
                               -log_q[:, 0].mean(-1))
    far = torch.full((2, 4, 3), -1e4, dtype=D)  # densities that underflow exp()
    assert torch.isfinite(core.imm_loss_continuous(far)).all()
    torch.testing.assert_close(core.imm_loss_continuous(far), torch.tensor(1e4, dtype=D))


def test_gaussian_log_probs_matches_torch_and_the_tanh_change_of_variables():
    g = torch.Generator().manual_seed(4)
    mean = torch.randn(2, 3, 2, generator=g, dtype=D)
    log_std = torch.randn(2, 3, 2, generator=g, dtype=D) * 0.3
    u = torch.randn(2, 5, 2, generator=g, dtype=D)
    plain = core.gaussian_log_probs(mean, log_std, u)
    squashed = core.gaussian_log_probs(mean, log_std, torch.tanh(u), squashed=True)
    for r in range(2):
        for j in range(3):
            for i in range(5):
                normal = torch.distributions.Normal(mean[r, j], log_std[r, j].exp())
                lp = normal.log_prob(u[r, i]).sum()
                torch.testing.assert_close(plain[r, j, i], lp)
                tanh = torch.distributions.TransformedDistribution(
                    normal, [torch.distributions.TanhTransform()])
                torch.testing.assert_close(squashed[r, j, i],
                                           tanh.log_prob(torch.tanh(u[r, i])).sum())


def test_imm_loss_continuous_validation_names_the_argument():
    log_q = torch.zeros(2, 3, 4)
    with pytest.raises(ValueError, match="component_log_probs"):
        core.imm_loss_continuous(torch.zeros(3))
    with pytest.raises(ValueError, match="component_log_probs"):
        core.imm_loss_continuous(torch.zeros(2, 3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="sample_weights"):
        core.imm_loss_continuous(log_q, torch.full((2, 4), 0.25))
    with pytest.raises(ValueError, match="sample_weights"):
        core.imm_loss_continuous(log_q, torch.full((5, 2, 3), 1 / 3))
    with pytest.raises(ValueError, match="sample_weights"):
        core.imm_loss_continuous(log_q, torch.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="log_std"):
        core.gaussian_log_probs(torch.zeros(2, 3, 1), torch.zeros(2, 3, 2), torch.zeros(2, 4, 1))
    with pytest.raises(ValueError, match="actions"):
        core.gaussian_log_probs(torch.zeros(2, 3, 1), torch.zeros(2, 3, 1), torch.zeros(2, 4, 2))
    with pytest.raises(ValueError, match="actions"):
        core.gaussian_log_probs(torch.zeros(2, 3, 1), torch.zeros(2, 3, 1),
                                torch.zeros(5, 2, 4, 1))
    with pytest.raises(ValueError, match="actions"):
        core.gaussian_log_probs(torch.zeros(2, 3, 1), torch.zeros(2, 3, 1),
                                torch.ones(2, 4, 1), squashed=True)
