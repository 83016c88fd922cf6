"""CUDA-only LM checks (skipped without a GPU; run on the GPU machine by
``benchmarks/gpu_lm_check.py``, which has neither Ray nor ``datasets``: the corpus here is
tokenised in memory, without ``datasets``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imm_ray import core
from imm_ray.lm import data as lmdata
from imm_ray.lm.config import LMConfig
from imm_ray.lm.models import build_model
from imm_ray.lm.trainer import LMTrainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
SMALL = dict(emb_size=16, hidden_size=16, batch_size=4, bptt=8, eval_batch_size=2,
             optimizer="adam", lr=3e-3, epochs=2, k=3, imm_length=5, imm_contexts=6,
             train_fraction=0.5, method="imm", device="cuda")


@pytest.fixture(scope="module")
def corpus_path(tmp_path_factory):
    """A synthetic corpus tokenised in memory (no ``datasets``), cached as an .npz."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    lines = {s: [" ".join(rng.choice(words, size=int(rng.integers(3, 12)))) for _ in range(n)]
             for s, n in zip(lmdata.SPLITS, (300, 40, 40), strict=True)}
    path = tmp_path_factory.mktemp("cuda_corpus") / "corpus.npz"
    lmdata._save(lmdata.tokenize_splits(lines), path)
    return path


def test_resume_on_cuda_continues_exactly(corpus_path, tmp_path):
    make = lambda: LMTrainer(LMConfig(data_path=str(corpus_path), **SMALL))  # noqa: E731
    first = make()
    first.end_epoch(first.train_epoch())
    first.save(tmp_path)
    resumed = make()
    resumed.load(tmp_path)
    metrics = resumed.end_epoch(resumed.train_epoch())
    assert resumed.epoch == 2 and next(resumed.model.parameters()).is_cuda
    assert np.isfinite(metrics["eval/valid_ppl"])


def test_serialized_imm_with_dropout_equals_autograd_on_cuda():
    """As tests/lm/test_lm_serialized_dropout.py, on the GPU (nn.Dropout replays on CUDA)."""
    torch.manual_seed(0)
    v, n, k, length, chunk = 29, 4, 6, 5, 4
    model = build_model("lstm", v, 12, 10, 2, 0.65, False).double().cuda().train()
    windows = torch.randint(0, v, (n, k, length), device="cuda")
    probs = torch.softmax(torch.randn(n, v, dtype=torch.float64, device="cuda"), -1)
    torch.manual_seed(5)
    parts = [model.last_logits(windows[:, s:s + chunk].reshape(-1, length)).view(n, -1, v)
             for s in range(0, k, chunk)]
    (0.2 * core.imm_loss(torch.cat(parts, 1), probs)).backward()
    ref = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=False)
    torch.manual_seed(5)
    core.serialized_imm_backward(model.last_logits, windows, probs, chunk, imm_lambda=0.2)
    for a, b in zip((p.grad for p in model.parameters()), ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-10)
