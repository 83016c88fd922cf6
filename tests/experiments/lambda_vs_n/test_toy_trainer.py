"""The toy on the generic trainer: its batch, its cells, the consistency story."""

import math

import pytest
import torch

from imm_ray.experiments.lambda_vs_n.config import ToyConfig
from imm_ray.experiments.lambda_vs_n.toy.data import induced_weights, sample_batch
from imm_ray.experiments.lambda_vs_n.toy.trainer import (
    cell_data,
    design,
    reference_log_loss,
    train_cell,
    train_set,
)
from imm_ray.samplers import IndependentPool
from imm_ray.tabular.config import FitConfig
from imm_ray.tabular.models import LinearSoftmax
from imm_ray.tabular.trainer import ROW_FIELDS

CFG = ToyConfig(valid_size=2000, test_size=4000)
FIT = FitConfig()


@pytest.mark.parametrize("rho", [0.0, 0.5])
def test_the_toy_batch_is_its_design_restricted_model_and_induced_weights(rho):
    cfg = ToyConfig(rho=rho, valid_size=100, test_size=200)
    data = sample_batch(cfg.problem(), [0, 1], 7)
    ts = train_set(cfg, data, [0, 1])
    assert torch.equal(ts.features[..., 1], data.x) and torch.equal(ts.features[..., 2:], data.xb)
    assert torch.equal(ts.features[..., 0], torch.ones(2, 7, dtype=torch.float64))
    assert torch.allclose(ts.restricted_probs[..., 1], cfg.problem().restricted().prob_one(data.x))
    expected = induced_weights(cfg.problem(), data.x, cfg.num_bins)
    assert (ts.induced.weights is None) == (rho == 0)
    if rho:
        assert torch.equal(ts.induced.weights, expected)
    cell = cell_data(cfg, 7, [0, 1])
    assert cell.test.features.shape == (1, 200, 4) and cell.restricted_width == 2


def test_pair_logits_equal_the_independent_pool_sampler():
    data = sample_batch(CFG.problem(), [0, 1, 2], 7)
    w = torch.randn(3, 4, dtype=torch.float64)
    fast = LinearSoftmax(4, 2, 2).pair_logits(w, design(data.x, data.xb), None)[..., 1]
    for m in range(3):
        extended, weights = IndependentPool(data.xb[m]).sample(data.x[m].unsqueeze(-1), k=None)
        assert weights is None and extended.shape == (7, 7, 3)  # (x_i, xb_j)
        slow = w[m, 0] + extended @ w[m, 1:]
        assert torch.allclose(fast[m], slow, atol=1e-12)


def test_train_cell_rows_are_complete_and_independent_of_the_batch():
    rows, stats = train_cell(CFG, FIT, "none", 8, [0, 1, 2], [0.0, 0.5])
    assert set(rows) == set(ROW_FIELDS) and stats["models"] == 3
    assert rows["method"] == ["none"] * 3 + ["interpolate"] * 6
    assert rows["ratio"] == [0.0] * 3 + [0.0, 0.5] * 3
    assert all(math.isfinite(v) for k in ("test_log_loss", "valid_log_loss") for v in rows[k])
    imm, _ = train_cell(CFG, FIT, "imm", 8, [0, 1, 2], [0.3, 0.9])
    assert imm["seed"] == [0, 0, 1, 1, 2, 2] and imm["lambda"][1] == pytest.approx(9.0)
    alone, _ = train_cell(CFG, FIT, "imm", 8, [2], [0.9])
    assert alone["test_log_loss"][0] == pytest.approx(imm["test_log_loss"][5], abs=1e-9)
    with pytest.raises(ValueError, match="unknown method"):
        train_cell(CFG, FIT, "dropout", 8, [0], [0.1])
    with pytest.raises(ValueError, match=r"ratios must be in \[0, 1\)"):
        train_cell(CFG, FIT, "imm", 8, [0], [1.0])
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        train_cell(CFG, FIT, "imm", 1, [0], [0.1])


def test_reference_log_losses_are_the_documented_ones():
    refs = reference_log_loss(ToyConfig())
    assert refs["bayes"] == pytest.approx(0.387, abs=0.01)
    assert refs["restricted"] == pytest.approx(0.550, abs=0.01)


def test_the_consistency_story_at_moderate_n():
    """The toy's probe at n = 32 (20 seeds; docs/lambda_vs_n.md, 'The toy'): IMM at r = 0.9
    beats the baseline, reverse-KD gets worse as r grows past its optimum, IMM does not."""
    seeds, n = range(20), 32
    mean = lambda m, r: sum(train_cell(CFG, FIT, m, n, seeds, r, interpolate=False)[0][
        "test_log_loss"]) / len(seeds)
    none = mean("none", [0.0])
    imm3, imm9 = mean("imm", [0.3]), mean("imm", [0.9])
    rkd3, rkd9 = mean("reverse_kd", [0.3]), mean("reverse_kd", [0.9])
    assert imm9 < none - 0.03 and imm9 <= imm3
    assert rkd9 > rkd3 + 0.05
