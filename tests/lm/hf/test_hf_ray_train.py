"""Ray Train: 2 CPU workers (gloo, DDP) give the 1-worker run on the same global batch."""

from __future__ import annotations

import numpy as np
import pytest

from imm_ray.lm.hf import TextCorpus, bigram


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False)
    yield ray
    ray.shutdown()


def deterministic_corpus(tmp_path, vocab=40, length=3):
    """A training stream in which each token ends exactly one history window (so the
    sampled windows do not depend on the RNG) and 4 blocks of 16 make the whole split."""
    perm = np.random.default_rng(0).permutation(vocab)
    train = np.concatenate([perm[-(length - 1):], perm, perm[:64 - vocab - length + 1]])
    rng = np.random.default_rng(1)
    corpus = TextCorpus(train[:64], rng.integers(0, vocab, 128), rng.integers(0, vocab, 128),
                        16, vocab)
    corpus.save(tmp_path / "c.npz")
    np.savez(tmp_path / "kn.npz", **bigram(rng.integers(0, vocab, 500), vocab).to_arrays())
    return tmp_path / "c.npz", tmp_path / "kn.npz"


@pytest.mark.slow
@pytest.mark.parametrize("serialized_chunk", [0, 1])
def test_two_workers_equal_one_worker_on_the_same_global_batch(local_ray, tmp_path,
                                                               serialized_chunk):
    """3 SGD steps with IMM (lambda 1) on the whole 4-block split: DDP over 2 gloo workers
    (2 blocks each) ends where 1 worker with 4 blocks does."""
    from imm_ray.lm.hf import ray_train

    corpus, kn = deterministic_corpus(tmp_path)
    results = []
    for workers in (1, 2):
        config = dict(corpus_path=str(corpus), restricted_path=str(kn), model="gpt2-tiny",
                      n_positions=32, dropout=0.0, seed=0, train_fraction=1.0,
                      settings=dict(method="imm", induced="sampled", k=2, imm_length=3,
                                    imm_positions=0, imm_lambda=1.0,
                                    serialized_chunk=serialized_chunk),
                      training_args=dict(per_device_train_batch_size=4 // workers,
                                         per_device_eval_batch_size=4 // workers,
                                         max_steps=3, logging_steps=1, save_strategy="no",
                                         use_cpu=True, optim="sgd", learning_rate=0.5,
                                         lr_scheduler_type="constant"))
        result = ray_train.fit(config, workers, storage_path=str(tmp_path / "ray"),
                               name=f"w{workers}")
        results.append(ray_train.result_metrics(result))
    one, two = results
    assert one["steps"] == two["steps"] == 3
    assert one["valid_ppl"] == pytest.approx(two["valid_ppl"], rel=1e-5)
    assert one["train_loss"] == pytest.approx(two["train_loss"], rel=1e-5)


def test_workers_the_cluster_cannot_place_are_refused(local_ray):
    from imm_ray.lm.hf.ray_train import check_workers

    with pytest.raises(ValueError, match="--num-workers 3"):
        check_workers(3, 1.0, 0.0)
    with pytest.raises(ValueError, match="--num-workers must be an integer >= 1"):
        check_workers(0, 1.0, 0.0)
