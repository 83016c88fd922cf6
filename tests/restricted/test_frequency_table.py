"""The smoothed frequency table against hand computations."""

import pytest
import torch

from imm_ray.protocols import RestrictedModel
from imm_ray.restricted.frequency_table import FrequencyTableRestricted


def test_probabilities_are_the_smoothed_counts_computed_by_hand():
    # keys (0,), (1,): key 0 has classes [0, 0, 1], key 1 has [2]; 4 rows, 3 classes
    values = torch.tensor([[0.0], [0.0], [0.0], [1.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 2])
    model = FrequencyTableRestricted(values, y, num_classes=3, smoothing=2.0)
    assert isinstance(model, RestrictedModel) and model.num_classes == 3
    prior = [(2 + 1) / 7, (1 + 1) / 7, (1 + 1) / 7]  # (N_y + 1) / (N + C)
    key0 = [(2 + 2 * prior[0]) / 5, (1 + 2 * prior[1]) / 5, (0 + 2 * prior[2]) / 5]
    key1 = [(0 + 2 * prior[0]) / 3, (0 + 2 * prior[1]) / 3, (1 + 2 * prior[2]) / 3]
    query = torch.tensor([[1.0], [0.0], [7.0]], dtype=torch.float64)  # 7: never seen
    got = model.probs(query)
    expected = torch.tensor([key1, key0, prior], dtype=torch.float64)
    assert torch.allclose(got, expected, atol=1e-15)
    assert torch.allclose(got.sum(-1), torch.ones(3, dtype=torch.float64))


def test_several_columns_key_on_the_whole_row_and_large_queries_chunk():
    values = torch.tensor([[0.0, 1.0], [0.0, 2.0], [0.0, 1.0], [1.0, 1.0]])
    y = torch.tensor([1, 0, 1, 0])
    model = FrequencyTableRestricted(values.double(), y, 2, smoothing=1.0)
    big = torch.tensor([[0.0, 1.0]] * 5000 + [[1.0, 2.0]], dtype=torch.float64)
    p = model.probs(big)
    prior1 = (2 + 1) / (4 + 2)
    assert p[0, 1].item() == pytest.approx((2 + prior1) / 3)
    assert torch.allclose(p[4999], p[0]) and p[-1, 1].item() == pytest.approx(prior1)


@pytest.mark.parametrize("call,match", [
    (lambda: FrequencyTableRestricted(torch.zeros(3), torch.zeros(3, dtype=torch.long), 2),
     r"values must be a \[N, r\]"),
    (lambda: FrequencyTableRestricted(torch.zeros(3, 1), torch.tensor([0, 1, 2]), 2),
     r"classes in \[0, 2\)"),
    (lambda: FrequencyTableRestricted(torch.zeros(3, 1), torch.zeros(2, dtype=torch.long), 2),
     r"y must be int64 \[m=3\]"),
    (lambda: FrequencyTableRestricted(torch.zeros(3, 1), torch.zeros(3, dtype=torch.long), 2,
                                      smoothing=0.0), "smoothing must be"),
    (lambda: FrequencyTableRestricted(torch.zeros(3, 1), torch.zeros(3, dtype=torch.long),
                                      2).probs(torch.zeros(2, 2)), "must have 1 columns"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
