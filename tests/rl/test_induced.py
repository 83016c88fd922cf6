"""Induced-policy estimators against slow loop twins: enumerated and pool exactly,
neighbours and binned against brute force on small data (samplers and RL estimators)."""

import numpy as np
import pytest
import torch
from scipy import stats

from imm_ray.rl import views
from imm_ray.rl.induced import (
    BinnedEstimator,
    EnumeratedEstimator,
    NeighboursEstimator,
    PoolEstimator,
    make_estimator,
)
from imm_ray.samplers import BinnedGroups, EnumeratedConditional, NearestNeighbours

VIEW = views.select(2, 3)


def test_enumerated_equals_a_loop_over_its_table():
    contexts = torch.tensor([[0, 3], [1, 4], [2, 5]])  # context x -> its 2 states
    weights = torch.tensor([[0.25, 0.75], [0.5, 0.5], [1.0, 0.0]])
    est = EnumeratedEstimator(np.arange(6) % 3, EnumeratedConditional(contexts, weights))
    states = torch.tensor([5, 0, 4, 4])
    ctx, ext, w = est(states)
    for i, s in enumerate(states.tolist()):
        assert ctx[i] == s % 3 and ext[i].tolist() == contexts[s % 3].tolist()
        assert w[i].tolist() == weights[s % 3].tolist()
    tagged = torch.tensor([[1, 5], [0, 2]])  # [member, state]: the member is kept
    _, ext, _ = est(tagged)
    assert ext.tolist() == [[[1, 2], [1, 5]], [[0, 2], [0, 5]]]
    onehot = torch.nn.functional.one_hot(states, 6).float()
    _, ext, _ = est(onehot)
    assert torch.equal(ext.argmax(-1), contexts[states % 3])


def test_pool_equals_a_loop_over_the_same_draws():
    torch.manual_seed(0)
    obs = torch.randn(7, 4)
    est = PoolEstimator(VIEW, k=5)
    torch.manual_seed(3)
    ctx, ext, w = est(obs)
    torch.manual_seed(3)
    idx = torch.randint(7, (7, 5))  # the draws IndependentPool makes
    assert w is None and torch.equal(ctx, obs[:, [2, 3]])
    for b in range(7):
        for j in range(5):
            want = obs[idx[b, j]].clone()
            want[[2, 3]] = obs[b, [2, 3]]  # spliced: the induced context is the row's own
            assert torch.equal(ext[b, j], want)


def test_pool_buffer_keeps_the_last_rows_fifo():
    est = PoolEstimator(VIEW, k=2, pool_size=5)
    a, b = torch.zeros(3, 4), torch.ones(4, 4)
    assert torch.equal(est.pool(a), a)
    assert torch.equal(est.pool(b), torch.cat([a[-1:], b]))  # 5 newest, oldest first
    assert est.pool(b).shape == (5, 4)
    assert PoolEstimator(VIEW, 2, 5).__getstate__()["buffer"] is None  # not pickled


def brute_nearest(keys, queries, k):
    scale = keys.std(0, unbiased=False)
    out = []
    for q in queries:
        d = [float(torch.sqrt((((q - r) / scale) ** 2).sum())) for r in keys]
        out.append(sorted(range(len(keys)), key=lambda i: (d[i], i))[:k])
    return out


def test_nearest_neighbours_equal_brute_force():
    g = torch.Generator().manual_seed(1)
    keys = torch.randn(40, 2, generator=g, dtype=torch.float64) * torch.tensor([0.1, 2.0],
                                                                                 dtype=torch.float64)
    queries = torch.randn(9, 2, generator=g, dtype=torch.float64)
    nn = NearestNeighbours(keys, chunk_elements=100)  # several chunks
    assert nn.nearest(queries, 6).tolist() == brute_nearest(keys, queries, 6)
    with pytest.raises(ValueError, match="k=41 neighbours but the pool has only 40"):
        nn.nearest(queries, 41)


def test_neighbours_estimator_splices_the_nearest_pooled_rows():
    g = torch.Generator().manual_seed(2)
    obs = torch.randn(12, 4, generator=g)
    ctx, ext, _ = NeighboursEstimator(VIEW, k=3)(obs)
    near = brute_nearest(obs[:, [2, 3]], obs[:, [2, 3]], 3)
    for b in range(12):
        assert near[b][0] == b  # a row's nearest is itself
        for j in range(3):
            want = obs[near[b][j]].clone()
            want[[2, 3]] = obs[b, [2, 3]]
            assert torch.allclose(ext[b, j], want)


def brute_bins(keys, x, bins):
    edges = [np.quantile(keys[:, j].numpy(), np.linspace(0, 1, bins + 1)[1:-1])
             for j in range(keys.shape[1])]
    return [tuple(int(np.searchsorted(edges[j], float(row[j]), side="right"))
                  for j in range(len(edges))) for row in x]


def test_binned_groups_draw_uniformly_within_the_brute_force_bin():
    g = torch.Generator().manual_seed(3)
    keys = torch.randn(60, 2, generator=g, dtype=torch.float64)
    sampler = BinnedGroups(keys, bins=3)
    bins = brute_bins(keys, keys, 3)
    got = sampler.bin_of(keys)
    for i in range(60):  # same bin index <=> same brute-force bin tuple
        for j in range(60):
            assert (got[i] == got[j]) == (bins[i] == bins[j])
    query = keys[:1]
    members = [i for i in range(60) if bins[i] == bins[0]]
    rows, _ = sampler.sample(query.expand(4000, 2), 1, generator=g)
    assert set(rows.flatten().tolist()) == set(members)
    counts = np.bincount(rows.flatten().numpy(), minlength=60)[members]
    assert stats.chisquare(counts).pvalue > 1e-3  # uniform over the bin


def test_binned_estimator_keeps_each_row_in_its_bin():
    g = torch.Generator().manual_seed(4)
    obs = torch.randn(50, 4, generator=g)
    est = BinnedEstimator(VIEW, k=4, bins=2)
    ctx, ext, _ = est(obs)
    bins = brute_bins(obs[:, [2, 3]], obs[:, [2, 3]], 2)
    by_row = {tuple(r.tolist()): i for i, r in enumerate(obs[:, :2])}
    for b in range(50):
        assert torch.equal(ext[b, :, 2:], obs[b, [2, 3]].expand(4, 2))
        for j in range(4):
            source = by_row[tuple(ext[b, j, :2].tolist())]
            assert bins[source] == bins[b]


@pytest.mark.parametrize("kwargs,message", [
    ({"k": 0}, "k must be an integer >= 1, got 0"),
    ({"pool_size": 0}, "pool_size must be an integer >= 1"),
    ({"k": 2.0}, "k must be an integer"),
])
def test_bad_estimator_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PoolEstimator(VIEW, **kwargs)


def test_estimator_names_and_views_that_cannot_splice():
    assert isinstance(make_estimator("binned", VIEW, 4), BinnedEstimator)
    with pytest.raises(ValueError, match="induced must be one of"):
        make_estimator("kmeans", VIEW)
    with pytest.raises(ValueError, match="cannot splice"):
        PoolEstimator(views.from_callable(lambda o: o))
    with pytest.raises(ValueError, match=r"needs float observations \[B, D\]"):
        PoolEstimator(VIEW)(torch.arange(4))
