"""Costs of IMM with the Hugging Face Trainer on CPU, as one JSON object.

- ``step_ratio``: seconds per optimizer step of ``IMMTrainer`` on a tiny GPT-2 (2 x 64,
  vocabulary 1000, 16 blocks of 64 tokens), ``imm`` over ``none``: ``in_batch`` (every
  step, 64 positions, k = 10; goal <= 1.1) and ``sampled`` (k = 10 windows of L = 32,
  16 positions, every 5th step, the paper's j; goal <= 1.5). Methods alternate over
  ``--repeats`` rounds and the median is kept (the machine is shared).
- ``bigram_50k``: Kneser-Ney fit on a 2M-token Zipf stream over 50,000 ids: seconds,
  stored bytes (sparse: no V x V table), peak numpy memory of the fit (tracemalloc), and
  the seconds to build 64 rows.
- ``ray_train``: tokens/s of the same short run on 1 and 2 Ray Train CPU workers (gloo),
  global batch fixed (reported, not a goal on a 2-core machine).

Run::

    python benchmarks/lm_transformers.py                # ~3-5 minutes on 2 cores
    python benchmarks/lm_transformers.py --quick        # seconds (tests)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def synthetic_corpus(vocab: int, n: int, block: int, seed: int = 0):
    from imm_ray.lm.hf import TextCorpus

    rng = np.random.default_rng(seed)
    ids = (rng.zipf(1.3, size=n) - 1) % vocab
    return TextCorpus(ids, ids[: n // 10], ids[: n // 10], block, vocab)


def step_seconds(corpus, kn, steps: int, **settings) -> float:
    from transformers import TrainingArguments

    from imm_ray.lm.hf import IMMTrainer, build_model

    model = build_model("gpt2-tiny", corpus.vocab_size, corpus.block_size, dropout=0.0)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=16,
                                 max_steps=steps, report_to=[], use_cpu=True,
                                 disable_tqdm=True, save_strategy="no", logging_steps=10**6)
        tr = IMMTrainer(model=model, args=args, train_dataset=corpus.train, restricted=kn,
                        **settings)
        t = time.perf_counter()
        tr.train()
        return (time.perf_counter() - t) / steps


SETTINGS = {
    "none": dict(method="none"),
    "in_batch": dict(method="imm", induced="in_batch", k=10, imm_positions=64),
    "sampled_every5": dict(method="imm", induced="sampled", k=10, imm_length=32,
                           imm_positions=16, imm_every=5),
}


def step_ratios(quick: bool, repeats: int) -> dict:
    from imm_ray.lm.hf import bigram

    corpus = synthetic_corpus(1000, 40_000 if quick else 400_000, 64)
    kn = bigram(corpus.train_ids, corpus.vocab_size)
    steps = 5 if quick else 30
    times = {name: [] for name in SETTINGS}
    for _ in range(repeats):
        for name, s in SETTINGS.items():
            times[name].append(step_seconds(corpus, kn, steps, **s))
    med = {name: statistics.median(v) for name, v in times.items()}
    return {"seconds_per_step": med, "steps": steps, "repeats": repeats,
            "in_batch_over_none": med["in_batch"] / med["none"],
            "sampled_every5_over_none": med["sampled_every5"] / med["none"],
            "goals": {"in_batch_over_none": 1.1, "sampled_every5_over_none": 1.5}}


def bigram_50k(quick: bool) -> dict:
    from imm_ray.lm.hf import bigram

    v, n = 50_000, 200_000 if quick else 2_000_000
    ids = (np.random.default_rng(0).zipf(1.2, size=n) - 1) % v
    tracemalloc.start()
    t = time.perf_counter()
    kn = bigram(ids, v)
    fit = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stored = sum(getattr(kn, a).numel() * getattr(kn, a).element_size()
                 for a in ("codes", "disc_terms", "gamma", "pcont", "cols", "indptr",
                           "context_counts", "successor_types"))
    t = time.perf_counter()
    rows = kn.probs(torch.as_tensor(ids[:64]))
    rows_s = time.perf_counter() - t
    return {"vocab": v, "tokens": n, "distinct_bigrams": int(kn.codes.numel()),
            "fit_seconds": fit, "fit_peak_numpy_mb": peak / 2**20,
            "stored_mb": stored / 2**20, "dense_vxv_float32_mb": v * v * 4 / 2**20,
            "rows_64_seconds": rows_s, "rows_shape": list(rows.shape)}


def ray_train_tokens(quick: bool) -> dict:
    import ray

    from imm_ray.lm.hf import bigram, ray_train

    with tempfile.TemporaryDirectory() as d:
        corpus = synthetic_corpus(1000, 20_000 if quick else 200_000, 64)
        corpus.save(f"{d}/c.npz")
        np.savez(f"{d}/kn.npz", **bigram(corpus.train_ids, 1000).to_arrays())
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        out, steps, batch = {}, 4 if quick else 40, 16
        try:
            for workers in (1, 2):
                config = dict(corpus_path=f"{d}/c.npz", restricted_path=f"{d}/kn.npz",
                              model="gpt2-tiny", n_positions=64, dropout=0.0, seed=0,
                              eval_tokens=2048, settings=dict(method="imm", induced="in_batch"),
                              training_args=dict(per_device_train_batch_size=batch // workers,
                                                 max_steps=steps, save_strategy="no",
                                                 use_cpu=True, logging_steps=10**6))
                m = ray_train.result_metrics(ray_train.fit(config, workers,
                                                           storage_path=f"{d}/ray"))
                out[f"workers_{workers}_tokens_per_s"] = steps * batch * 64 / m["train_runtime"]
        finally:
            ray.shutdown()
    return {**out, "steps": steps, "global_batch_blocks": batch, "block": 64}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (tests)")
    p.add_argument("--repeats", type=int, default=3, help="rounds of the step timing")
    p.add_argument("--skip-ray", action="store_true", help="leave out the Ray Train part")
    p.add_argument("--out", default="", help="also write the JSON here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    result = {"torch_threads": 1, "step_ratio": step_ratios(args.quick, args.repeats),
              "bigram_50k": bigram_50k(args.quick)}
    if not args.skip_ray:
        result["ray_train"] = ray_train_tokens(args.quick)
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
