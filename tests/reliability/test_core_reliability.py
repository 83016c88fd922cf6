"""imm_ray.core and its scalar checks against hostile input: every class of silent wrong
answer in issue 15 is an error naming the argument, and random shapes either work exactly
as documented (compared with a slow loop) or raise ValueError (hypothesis)."""

import json
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from imm_ray import core, schedules
from imm_ray.config import from_dict

D = torch.float64
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True)  # reproducible


def probs(*shape):
    return torch.softmax(torch.randn(*shape, dtype=D), dim=-1)


def raises(match, fn, *args, **kw):
    with pytest.raises(ValueError, match=match) as e:
        fn(*args, **kw)
    return str(e.value)


# ----------------------------------------------------------------------- broadcasting traps


def test_restricted_probs_with_an_extra_dim_is_not_paired_with_every_row():
    logits, p = torch.randn(5, 3, 4, dtype=D), probs(5, 4)
    raises(r"restricted_probs has shape \(5, 1, 4\): its leading dims \(5, 1\) must equal .*"
           r"sample_logits.shape\[:-2\] \(5,\)", core.imm_loss, logits, p.unsqueeze(1))
    raises(r"restricted_probs has shape \(5, 1, 4\).*logits.shape\[:-1\] \(5,\)",
           core.reverse_kd_loss, logits[:, 0], p.unsqueeze(1))
    raises(r"sample_weights has shape \(5, 1, 3\)", core.imm_loss, logits, p, probs(5, 1, 3))
    # the documented broadcast still works: one restricted row for every context
    one = core.imm_loss(logits, p[:1], reduction="none")
    torch.testing.assert_close(one, core.imm_loss(logits, p[:1].expand(5, 4), reduction="none"))


def test_interpolate_ratio_per_class_is_refused_and_per_row_rows_sum_to_one():
    q, p = probs(3, 4), probs(3, 4)
    raises(r"ratio has shape \(4,\): a ratio tensor must be \[..., 1\]", core.interpolate, q, p,
           torch.full((4,), 0.5, dtype=D))
    three = torch.tensor([[[0.0]], [[0.5]], [[1.0]]], dtype=D)  # [3, 1, 1]
    mix = core.interpolate(q.expand(3, 3, 4), p, three)  # one mixture per ratio: expand
    assert mix.shape == (3, 3, 4)
    torch.testing.assert_close(mix.sum(-1), torch.ones(3, 3, dtype=D))
    raises(r"restricted_probs has shape \(3, 1, 4\)", core.interpolate, q, p.unsqueeze(1), 0.5)


def test_mix_losses_checks_tensor_ratios_and_shapes():
    main, extra = torch.ones(3, dtype=D), torch.zeros(3, dtype=D)
    for bad in (torch.tensor([0.1, 1.0, 0.2]), torch.tensor([0.1, float("nan"), 0.2]),
                torch.tensor([-0.1, 0.1, 0.2])):
        raises(r"ratio must be in \[0, 1\) everywhere", core.mix_losses, main, extra, bad)
    raises(r"ratio has shape \(2, 3\), which does not broadcast to main's shape \(3,\)",
           core.mix_losses, main, extra, torch.full((2, 3), 0.5))
    raises(r"main and extra must have the same shape", core.mix_losses, main, extra[:1], 0.5)
    got = core.mix_losses(main, extra, torch.tensor([0.0, 0.5, 0.9], dtype=D))
    torch.testing.assert_close(got, torch.tensor([1.0, 0.5, 0.1], dtype=D))


# ----------------------------------------------------------------------- non-finite, empty


def test_an_empty_batch_mean_raises_instead_of_nan():
    raises("sample_logits has an empty batch .*reduction='mean' over no rows is undefined",
           core.imm_loss, torch.randn(0, 3, 4), torch.empty(0, 4))
    raises("logits has an empty batch", core.reverse_kd_loss, torch.randn(0, 4),
           torch.empty(0, 4))
    assert core.imm_loss(torch.randn(0, 3, 4), torch.empty(0, 4), reduction="sum").item() == 0


@pytest.mark.parametrize("lam", [float("nan"), float("inf"), -1.0, "1", True, None, [1.0]])
def test_serialized_backward_rejects_a_bad_imm_lambda_before_touching_grads(lam):
    model = torch.nn.Linear(3, 4).to(D)
    samples, p = torch.randn(2, 5, 3, dtype=D), probs(2, 4)
    message = raises("imm_lambda must be", core.serialized_imm_backward, model, samples, p, 2,
                     imm_lambda=lam)
    assert all(q.grad is None for q in model.parameters()), message
    if not isinstance(lam, float):
        assert "a real number" in message  # the type is the problem, said so


def test_serialized_backward_rejects_an_empty_batch_and_a_float_chunk_size():
    model = torch.nn.Linear(3, 4).to(D)
    raises(r"samples has no restricted contexts \(N = samples.shape\[0\] = 0\)",
           core.serialized_imm_backward, model, torch.randn(0, 5, 3, dtype=D),
           torch.empty(0, 4, dtype=D), 2)
    raises(r"chunk_size must be an integer \(an int, numpy integer, 0-d tensor, or a float "
           r"with no fractional part\), got float 2.5", core.serialized_imm_backward,
           model, torch.randn(2, 5, 3, dtype=D), probs(2, 4), 2.5)


@pytest.mark.parametrize("fields,match", [
    ({"slope": float("nan"), "intercept": 0.1}, "slope must be a finite number"),
    ({"slope": 0.0, "intercept": float("inf")}, "intercept must be a finite number"),
    ({"slope": 0.0, "intercept": float("-inf")}, "intercept must be a finite number"),
    ({"slope": "0.1", "intercept": 0.1}, "slope must be a real number .* got str '0.1'"),
    ({"slope": 0.0, "intercept": 0.1, "decimals": 1.5}, "decimals must be an integer"),
    ({"slope": 0.0, "intercept": 0.1, "decimals": True}, "decimals must be an integer"),
    ({"slope": 0.0, "intercept": 0.1, "basis": 3}, "basis must be one of"),
    ({"slope": 0.0, "intercept": 0.1, "max_ratio": 1.0}, r"max_ratio must be in \[0, 1\)"),
    ({"slope": 0.0, "intercept": 0.1, "offset": 2}, r"unknown fields \['offset'\]"),
    ({"slope": 0.0}, r"missing \['intercept'\]"),
])
def test_make_schedule_validates_every_field_of_a_dict(fields, match):
    raises(match, core.make_schedule, fields)


def test_a_schedule_json_with_minus_infinity_does_not_switch_imm_off():
    spec = json.loads('{"slope": 0.0, "intercept": -Infinity}')  # Python's json accepts it
    raises("intercept must be a finite number, got -inf", core.make_schedule, spec)
    raises("intercept must be a finite number", core.RatioSchedule, 0.0, float("-inf"))
    assert core.RatioSchedule(1e300, 0.0).ratio(1e300) == schedules.MAX_RATIO  # overflow clips


# ----------------------------------------------------------------------- scalar types


@pytest.mark.parametrize("value", [np.float32(0.5), np.float64(0.5), torch.tensor(0.5), 0.5])
def test_numpy_and_0d_tensor_scalars_are_numbers(value):
    assert core.lambda_from_ratio(value) == pytest.approx(1.0)
    assert type(core.ConstantSchedule(value).imm_lambda) is float
    assert core.make_schedule(value) == core.ConstantSchedule(0.5)
    q, p = probs(2, 3), probs(2, 3)
    torch.testing.assert_close(core.interpolate(q, p, value), 0.5 * q + 0.5 * p)
    model = torch.nn.Linear(3, 4).to(D)
    core.serialized_imm_backward(model, torch.randn(2, 4, 3, dtype=D), probs(2, 4),
                                 np.int64(2), imm_lambda=value)


@pytest.mark.parametrize("value,type_name", [("0.5", "str"), (None, "NoneType"),
                                             ([0.5], "list"), (True, "bool"),
                                             (np.bool_(True), "not a number here"),
                                             (torch.tensor([0.5]), "a tensor of shape")])
def test_other_types_are_named_as_the_problem(value, type_name):
    message = raises(r"ratio must be a real number \(an int, float, numpy scalar or 0-d "
                     r"tensor\), got", core.lambda_from_ratio, value)
    assert type_name in message and "must be in [0, 1)" not in message


def test_config_fields_accept_numpy_scalars_and_name_bad_types():
    from dataclasses import dataclass

    @dataclass
    class Cfg:
        n: int = 1
        lr: float = 0.1
        sizes: tuple[int, ...] = (1,)
        tag: str | None = None

    cfg = from_dict(Cfg, {"n": np.int64(3), "lr": np.float32(0.5), "sizes": [np.int32(2), 4]})
    assert (type(cfg.n), type(cfg.lr), cfg.sizes) == (int, float, (2, 4))
    assert from_dict(Cfg, {"lr": 1}).lr == 1.0 and from_dict(Cfg, {"tag": None}).tag is None
    raises(r"Cfg field 'n' \(--n\) must be an integer .* got float 3.5", from_dict, Cfg,
           {"n": 3.5})
    raises(r"Cfg field 'lr' \(--lr\) must be a real number .* got str '0.1'", from_dict, Cfg,
           {"lr": "0.1"})
    raises(r"Cfg field 'sizes' \(--sizes\)\[1\] must be an integer", from_dict, Cfg,
           {"sizes": [1, "2"]})


# ----------------------------------------------------------------------- property tests


def shape_variant(draw, batch: tuple[int, ...], last: int) -> tuple[int, ...]:
    """A shape ``[..., last]`` that is the batch itself, a documented broadcast of it
    (dims set to 1, leading dims dropped), or a wrong one (an added dim, a changed size)."""
    kind = draw(st.sampled_from(["exact", "broadcast", "extra_dim", "changed", "last"]))
    lead = list(batch)
    if kind == "broadcast":
        lead = [1 if draw(st.booleans()) else b for b in lead]
        lead = lead[draw(st.integers(0, len(lead))):]
    elif kind == "extra_dim":
        lead.insert(draw(st.integers(0, len(lead))), draw(st.integers(1, 3)))
    elif kind == "changed" and lead:
        i = draw(st.integers(0, len(lead) - 1))
        lead[i] = lead[i] + draw(st.integers(1, 2))
    elif kind == "last":
        last = last + draw(st.integers(1, 2))
    return (*lead, last)


def documented(shape: tuple[int, ...], batch: tuple[int, ...], last: int) -> bool:
    """The documented rule: same last dim, leading dims broadcast *to* the batch."""
    if shape[-1] != last or len(shape) - 1 > len(batch):
        return False
    lead = shape[:-1]
    return all(a in (1, b) for a, b in zip(lead[::-1], batch[::-1], strict=False))


def loop_imm(logits, p, w):
    """Slow twin: per batch index, -sum_y Pbar(y) log sum_j w_j softmax(logits_j)(y)."""
    batch = logits.shape[:-2]
    k = logits.shape[-2]
    p = p.expand(*batch, p.shape[-1])
    w = torch.full((*batch, k), 1.0 / k, dtype=D) if w is None else w.expand(*batch, k)
    out = torch.zeros(batch, dtype=D)
    for idx in np.ndindex(*batch) if batch else [()]:
        qbar = sum(w[idx][j] * torch.softmax(logits[idx][j], -1) for j in range(k))
        out[idx] = -(p[idx] * torch.log(qbar)).sum()
    return out


@st.composite
def imm_case(draw):
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=3)))
    k, c = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    p_shape = shape_variant(draw, batch, c)
    w_shape = shape_variant(draw, batch, k) if draw(st.booleans()) else None
    return batch, k, c, p_shape, w_shape


@PROPERTY
@given(imm_case())
def test_imm_loss_works_as_documented_or_raises(case):
    batch, k, c, p_shape, w_shape = case
    torch.manual_seed(len(batch) * 31 + k * 7 + c)
    logits = torch.randn(*batch, k, c, dtype=D)
    p = probs(*p_shape)
    w = probs(*w_shape) if w_shape else None
    ok = documented(p_shape, batch, c) and (w_shape is None or documented(w_shape, batch, k))
    if not ok:
        with pytest.raises(ValueError, match="sample_weights|restricted_probs"):
            core.imm_loss(logits, p, w, reduction="none")
        return
    got = core.imm_loss(logits, p, w, reduction="none")
    assert got.shape == batch
    torch.testing.assert_close(got, loop_imm(logits, p, w), rtol=1e-10, atol=1e-10)


@PROPERTY
@given(st.lists(st.integers(1, 3), max_size=3).map(tuple), st.integers(1, 5), st.data())
def test_reverse_kd_works_as_documented_or_raises(batch, c, data):
    p_shape = shape_variant(data.draw, batch, c)
    logits, p = torch.randn(*batch, c, dtype=D), probs(*p_shape)
    if not documented(p_shape, batch, c):
        with pytest.raises(ValueError, match="restricted_probs"):
            core.reverse_kd_loss(logits, p, reduction="none")
        return
    got = core.reverse_kd_loss(logits, p, reduction="none")
    expected = torch.zeros(batch, dtype=D)
    pe = p.expand(*batch, c)
    for idx in np.ndindex(*batch) if batch else [()]:
        expected[idx] = -(pe[idx] * torch.log_softmax(logits[idx], -1)).sum()
    torch.testing.assert_close(got, expected)


@PROPERTY
@given(st.lists(st.integers(1, 3), min_size=1, max_size=2).map(tuple), st.integers(1, 4),
       st.lists(st.integers(1, 4), max_size=3).map(tuple))
def test_interpolate_rows_sum_to_one_or_it_raises(batch, c, ratio_shape):
    q, p = probs(*batch, c), probs(*batch, c)
    ratio = torch.rand(ratio_shape, dtype=D)
    rows = (*batch, 1)
    try:  # a ratio may broadcast to the rows, never add dims to them
        out_shape = torch.broadcast_shapes(ratio.shape, rows)
        fits = not ratio_shape or (ratio_shape[-1] == 1 and out_shape == rows)
    except RuntimeError:
        fits = False
    if not fits:
        with pytest.raises(ValueError, match="ratio has shape"):
            core.interpolate(q, p, ratio)
        return
    mix = core.interpolate(q, p, ratio)
    assert mix.shape == (*out_shape[:-1], c)
    torch.testing.assert_close(mix.sum(-1), torch.ones(mix.shape[:-1], dtype=D))
    r = ratio.expand(*out_shape[:-1], 1) if ratio_shape else ratio
    torch.testing.assert_close(mix, (1 - r) * q + r * p)


@PROPERTY
@given(st.integers(0, 3), st.integers(0, 4), st.integers(1, 4), st.data())
def test_serialized_backward_equals_autograd_or_raises(n, k, c, data):
    p_rows = data.draw(st.sampled_from([n, n + 1, max(n - 1, 0)]))
    chunk = data.draw(st.integers(1, 5))
    model = torch.nn.Linear(3, c).to(D)
    samples, p = torch.randn(n, k, 3, dtype=D), probs(p_rows, c)
    if n == 0 or k == 0 or p_rows != n:
        with pytest.raises(ValueError, match="samples|restricted_probs|k "):
            core.serialized_imm_backward(model, samples, p, chunk, imm_lambda=0.5)
        return
    loss = core.serialized_imm_backward(model, samples, p, chunk, imm_lambda=0.5)
    got = [q.grad.clone() for q in model.parameters()]
    model.zero_grad()
    ref = core.imm_loss(model(samples.reshape(n * k, 3)).view(n, k, c), p)
    (0.5 * ref).backward()
    torch.testing.assert_close(loss, ref.detach())
    for g, q in zip(got, model.parameters(), strict=True):
        torch.testing.assert_close(g, q.grad, rtol=1e-8, atol=1e-10)


@PROPERTY
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5),
                 st.text(max_size=3), st.none(), st.booleans()))
def test_ratio_functions_accept_exactly_finite_numbers_in_range(value):
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    in_range = is_number and math.isfinite(value) and 0 <= value < 1
    if in_range:
        assert core.ratio_from_lambda(core.lambda_from_ratio(value)) == pytest.approx(value)
    else:
        message = raises(re.escape("ratio must be"), core.lambda_from_ratio, value)
        assert ("real number" in message) == (not is_number)
