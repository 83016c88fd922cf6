"""Generic extended-context samplers against explicit loops."""

import pytest
import torch

from imm_ray.protocols import ContextSampler
from imm_ray.samplers import EmpiricalGroups, EnumeratedConditional, IndependentPool


def test_samplers_follow_the_protocol():
    for s in (EnumeratedConditional(torch.zeros(2, 3, 1)), IndependentPool(torch.zeros(4, 2)),
              EmpiricalGroups(torch.tensor([0, 1, 1]))):
        assert isinstance(s, ContextSampler)


def test_enumerated_conditional_returns_rows_and_weights():
    contexts = torch.arange(2 * 3).view(2, 3, 1)
    w = torch.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    s = EnumeratedConditional(contexts, w)
    x = torch.tensor([[1, 0], [0, 0]])
    got, gw = s.sample(x)
    assert got.shape == (2, 2, 3, 1) and gw.shape == (2, 2, 3)
    assert torch.equal(got[0, 0], contexts[1]) and torch.equal(gw[0, 1], w[0])
    with pytest.raises(ValueError, match="enumerates exactly 3"):
        s.sample(x, k=4)
    with pytest.raises(ValueError, match=r"restricted_contexts values must be in \[0, 2\)"):
        s.sample(torch.tensor([2]))
    with pytest.raises(ValueError, match="weights must sum to 1"):
        EnumeratedConditional(contexts, w * 2)


def test_independent_pool_whole_pool_and_draws():
    pool = torch.tensor([[10.0], [20.0], [30.0]])
    s = IndependentPool(pool)
    x = torch.tensor([[1.0], [2.0]])
    full, w = s.sample(x, k=None)
    assert w is None and full.shape == (2, 3, 2)
    assert torch.equal(full[1], torch.tensor([[2.0, 10.0], [2.0, 20.0], [2.0, 30.0]]))
    g = torch.Generator().manual_seed(0)
    drawn, _ = s.sample(x, k=500, generator=g)
    assert drawn.shape == (2, 500, 2)
    assert torch.equal(drawn[..., 0], x.expand(2, 500))
    assert set(drawn[..., 1].unique().tolist()) == {10.0, 20.0, 30.0}
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        s.sample(x, k=0)


def test_empirical_groups_draw_only_matching_rows_uniformly():
    keys = torch.tensor([3, 1, 3, 7, 1, 3, 3])
    s = EmpiricalGroups(keys, contexts=torch.arange(7) * 10)
    g = torch.Generator().manual_seed(0)
    q = torch.tensor([[3, 1], [7, 3]])
    got, w = s.sample(q, k=4000, generator=g)
    assert w is None and got.shape == (2, 2, 4000)
    for key, draws in ((3, got[0, 0]), (1, got[0, 1]), (7, got[1, 0])):
        rows = draws // 10
        assert (keys[rows] == key).all()
        members = (keys == key).nonzero().flatten()
        freq = torch.stack([(rows == m).float().mean() for m in members])
        assert torch.allclose(freq, torch.full_like(freq, 1 / len(members)), atol=0.03)
    assert torch.equal(s.group_sizes(torch.tensor([1, 3, 5, 7])), torch.tensor([2, 4, 0, 1]))
    with pytest.raises(ValueError, match=r"no dataset rows, e.g. \[5\]"):
        s.sample(torch.tensor([5]), k=2)


def test_empirical_groups_is_reproducible_with_a_generator():
    s = EmpiricalGroups(torch.randint(0, 5, (100,), generator=torch.Generator().manual_seed(1)))
    a, _ = s.sample(torch.tensor([0, 4]), 9, torch.Generator().manual_seed(7))
    b, _ = s.sample(torch.tensor([0, 4]), 9, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_neighbour_and_binned_samplers_follow_the_protocol_and_check_their_keys():
    from imm_ray.samplers import BinnedGroups, NearestNeighbours

    keys = torch.randn(10, 2)
    for s in (NearestNeighbours(keys), BinnedGroups(keys, bins=2)):
        assert isinstance(s, ContextSampler)
        rows, w = s.sample(keys[:3], 2)
        assert rows.shape == (3, 2) and w is None
    for bad, message in ((torch.zeros(0, 2), "non-empty float tensor"),
                         (torch.zeros(3, 2, dtype=torch.long), "non-empty float tensor"),
                         (torch.tensor([[float("nan"), 0.0]]), "must be finite")):
        with pytest.raises(ValueError, match=f"keys (must be a )?{message}"):
            NearestNeighbours(bad)
    with pytest.raises(ValueError, match="bins must be an integer >= 1"):
        BinnedGroups(keys, bins=0)
    with pytest.raises(ValueError, match=r"restricted contexts must be \[B, d=2\]"):
        BinnedGroups(keys).sample(torch.zeros(3, 3), 1)
    with pytest.raises(ValueError, match=r"queries must be \[B, d=2\]"):
        NearestNeighbours(keys).sample(torch.zeros(3), 1)
