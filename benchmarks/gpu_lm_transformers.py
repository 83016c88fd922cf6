"""A GPT-2-small-sized model from scratch on PTB on one GPU: ``none`` vs ``imm`` (sampled
with the serialized gradient, and in_batch): seconds per step, tokens/s, peak memory.

Ready for one 10-minute call on a GPU machine (no Ray needed). The data (a BPE tokenizer
trained on PTB's training split, the token streams, the Kneser-Ney bigram) is prepared by
:func:`imm_ray.experiments.lm_transformers.data.prepare` and cached (``--cache-dir``)::

    PYTHONPATH=. python benchmarks/gpu_lm_transformers.py --out gpu_lm_transformers.json
    python benchmarks/gpu_lm_transformers.py --device cpu --model gpt2-tiny --steps 3 \\
        --block-size 32 --batch-size 4 --tokenizer train-bpe:400    # the CPU test size

Each method trains ``--steps`` optimizer steps (after 2 warm-up steps) of
``--batch-size`` blocks of ``--block-size`` tokens with bf16 autocast on CUDA; IMM uses
k = 10 windows of L = 32 at 64 positions per step (sampled, serialized in chunks of 5) or
64 positions with k = 10 (in_batch). Writes one JSON object (stdout, and ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

METHODS = {
    "none": dict(method="none"),
    "imm_sampled_serialized": dict(method="imm", induced="sampled", k=10, imm_length=32,
                                   imm_positions=64, serialized_chunk=5),
    "imm_in_batch": dict(method="imm", induced="in_batch", k=10, imm_positions=64),
}


def measure(name, settings, prepared, args) -> dict:
    import torch
    from transformers import TrainerCallback, TrainingArguments

    from imm_ray.lm.hf import IMMTrainer, TextCorpus, build_model
    from imm_ray.lm.hf.ray_train import load_restricted

    corpus = TextCorpus.load(prepared.corpus_path)
    model = build_model(args.model, corpus.vocab_size, max(args.block_size, 32), 0.1)
    cuda = args.device == "cuda"
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            if cuda:
                torch.cuda.synchronize()
            self.t = time.perf_counter()

        def on_step_end(self, *a, **k):
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - self.t)

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(output_dir=out, per_device_train_batch_size=args.batch_size,
                                  max_steps=args.steps + 2, bf16=cuda, use_cpu=not cuda,
                                  report_to=[], disable_tqdm=True, save_strategy="no",
                                  logging_steps=10**6, learning_rate=3e-4)
        tr = IMMTrainer(model=model, args=targs, train_dataset=corpus.train,
                        restricted=load_restricted(prepared.restricted_path),
                        callbacks=[Clock()], **settings)
        tr.train()
    per_step = sum(times[2:]) / max(len(times) - 2, 1)
    return {"method": name, "seconds_per_step": per_step,
            "tokens_per_s": args.batch_size * args.block_size / per_step,
            "peak_memory_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
            "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6}


def main(argv=None) -> int:
    from imm_ray.experiments.lm_transformers.data import prepare
    from imm_ray.lm.data import default_cache_dir, default_data_dir

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--model", default="gpt2-small")
    p.add_argument("--tokenizer", default="train-bpe:8000")
    p.add_argument("--corpus", default="", help="default: PTB")
    p.add_argument("--cache-dir", default="")
    p.add_argument("--block-size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no GPU (pass --device cpu)")
    t = time.perf_counter()
    prepared = prepare(args.corpus or str(default_data_dir()), args.tokenizer, args.model,
                       args.block_size, args.cache_dir or default_cache_dir())
    result = {"device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
              "model": args.model, "vocab": prepared.vocab_size, "block_size": args.block_size,
              "batch_size": args.batch_size, "prepare_seconds": time.perf_counter() - t,
              "runs": [measure(n, s, prepared, args) for n, s in METHODS.items()]}
    base = result["runs"][0]["seconds_per_step"]
    for run in result["runs"]:
        run["step_ratio_vs_none"] = run["seconds_per_step"] / base
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
