"""The paper-size LSTM on one GPU: plain vs IMM seconds per epoch, validation perplexity
per epoch, peak GPU memory of an IMM step (serialized vs plain autograd), CUDA tests.

Built for a GPU machine without Ray, gymnasium, datasets or optuna: it imports only torch,
numpy and ``imm_ray.lm`` and reads a token cache prepared beforehand on a CPU machine::

    python -m imm_ray.lm.data prepare --cache-dir build/gpu_cache     # here, once
    PYTHONPATH=. python benchmarks/gpu_lm_check.py --data-path build/gpu_cache/lm_ptb_*.npz \
        --out gpu_lm_check.json                                        # there, < ~9 min

It trains the 2 x 1500 LSTM (dropout 0.65, SGD lr 20 / clip 0.25 on the per-token mean
loss: the reference's lr 1 on its time-summed loss) with ``none`` and with amortised IMM
(``--imm-contexts`` positions per step, k = 10 histories of L = 35 tokens, every
``--imm-every``-th step, serialized gradient in chunks of ``--imm-chunk``), one epoch of
each in turn, and stops starting epochs once ``--time-budget-s`` would be exceeded. Then
one IMM step at k = 10 over all 700 positions (the paper's setting) is measured for peak
GPU memory with the serialized gradient and with plain autograd, and the CUDA-only tests
(tests/lm/test_lm_cuda.py) are run with pytest. Writes one JSON object (``--out``, and
stdout). ``--device cpu`` with a tiny model is how the tests exercise it on CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from imm_ray.lm import data as lmdata
from imm_ray.lm.config import LMConfig
from imm_ray.lm.trainer import LMTrainer

REPO = Path(__file__).resolve().parents[1]
CUDA_TESTS = "tests/lm/test_lm_cuda.py"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-path", required=True, help="prepared corpus .npz (imm_ray.lm.data)")
    p.add_argument("--out", default="gpu_lm_check.json", help="JSON output file")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--hidden", type=int, default=1500, help="embedding and LSTM width")
    p.add_argument("--epochs", type=int, default=3, help="at most this many epochs of each")
    p.add_argument("--steps-per-epoch", type=int, default=0, help="0 = the full split")
    p.add_argument("--time-budget-s", type=float, default=420.0,
                   help="no new epoch starts once it would end past this (training part)")
    p.add_argument("--imm-contexts", type=int, default=64)
    p.add_argument("--imm-every", type=int, default=5)
    p.add_argument("--imm-chunk", type=int, default=5)
    p.add_argument("--imm-length", type=int, default=35)
    p.add_argument("--valid-tokens", type=int, default=0, help="0 = the full split")
    p.add_argument("--no-tests", action="store_true", help="skip the CUDA-only tests")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but torch sees no CUDA device")
    return args


def config(args, method: str, **kw) -> LMConfig:
    fields = dict(data_path=args.data_path, model="lstm", method=method, emb_size=args.hidden,
                  hidden_size=args.hidden, dropout=0.65, optimizer="sgd", lr=20.0, clip=0.25,
                  imm_lambda=0.2, k=10, imm_length=args.imm_length,
                  imm_contexts=args.imm_contexts, imm_every=args.imm_every,
                  imm_chunk=args.imm_chunk, valid_tokens=args.valid_tokens,
                  epochs=args.epochs, device=args.device, seed=0)
    return LMConfig(**{**fields, **kw})


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def train_epoch(tr: LMTrainer, steps: int, device: str) -> tuple[float, float]:
    """One (capped) epoch: (seconds of training steps, validation perplexity after it)."""
    tr.model.train()
    state, t0 = None, time.perf_counter()
    for i, (x, y) in enumerate(lmdata.bptt_batches(tr.rows, tr.cfg.bptt)):
        if steps and i >= steps:
            break
        state = tr.model.detach_state(state)
        _, state = tr.train_step(x.to(tr.device), y.to(tr.device), state)
    sync(device)
    seconds = time.perf_counter() - t0
    return seconds, tr.end_epoch({})["eval/valid_ppl"]


def side_by_side(args, corpus, kn) -> dict:
    """Epochs of none and imm in turn within the time budget."""
    trainers = {m: LMTrainer(config(args, m), corpus, kn) for m in ("none", "imm")}
    out = {m: {"s_per_epoch": [], "valid_ppl": []} for m in trainers}
    start, stopped = time.perf_counter(), ""
    for epoch in range(args.epochs):
        for m, tr in trainers.items():
            done = out[m]["s_per_epoch"]
            elapsed = time.perf_counter() - start
            if done and elapsed + done[-1] * 1.1 > args.time_budget_s:
                stopped = f"time budget reached before epoch {epoch + 1} of {m}"
                break
            seconds, ppl = train_epoch(tr, args.steps_per_epoch, args.device)
            out[m]["s_per_epoch"].append(round(seconds, 2))
            out[m]["valid_ppl"].append(round(ppl, 2))
        if stopped:
            break
    mean = {m: sum(v["s_per_epoch"]) / len(v["s_per_epoch"]) for m, v in out.items()}
    return {**out, "imm_over_none": round(mean["imm"] / mean["none"], 3), "stopped": stopped,
            "steps_per_epoch": args.steps_per_epoch or lmdata.num_bptt_batches(
                trainers["none"].rows, trainers["none"].cfg.bptt)}


def imm_step_memory(args, corpus, kn, chunk: int) -> dict:
    """Peak memory of one training step with IMM over all 700 positions at k = 10."""
    tr = LMTrainer(config(args, "imm", imm_contexts=0, imm_every=1, imm_chunk=chunk),
                   corpus, kn)
    x, y = next(lmdata.bptt_batches(tr.rows, tr.cfg.bptt))
    if args.device != "cuda":
        tr.train_step(x, y, None)
        return {"peak_gb": None, "note": "GPU memory is measured on CUDA only"}
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    try:
        tr.train_step(x.cuda(), y.cuda(), None)
        sync("cuda")
        return {"peak_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)}
    except torch.cuda.OutOfMemoryError as e:
        return {"peak_gb": None, "note": f"out of memory: {str(e).splitlines()[0]}"}
    finally:
        del tr
        torch.cuda.empty_cache()


def cuda_tests() -> dict:
    """tests/lm/test_lm_cuda.py through pytest (if installed); the summary line."""
    try:
        import pytest  # noqa: F401
    except ImportError:
        return {"passed": None, "summary": "pytest not installed"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           CUDA_TESTS], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    lines = proc.stdout.strip().splitlines()
    return {"passed": proc.returncode == 0, "summary": lines[-1] if lines else proc.stderr[-500:]}


def main(argv=None) -> None:
    args = parse_args(argv)
    t0 = time.time()
    corpus = lmdata.load_corpus(args.data_path)
    from imm_ray.lm.bigram import restricted_model

    kn = restricted_model(corpus, 1.0, "full")
    result = {"device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
              "torch": torch.__version__, "python": sys.version.split()[0],
              "hidden": args.hidden, "imm": {"contexts_per_step": args.imm_contexts, "k": 10,
                                              "L": args.imm_length, "every": args.imm_every,
                                              "chunk": args.imm_chunk, "imm_lambda": 0.2}}
    result["training"] = side_by_side(args, corpus, kn)
    result["imm_step_memory_k10_all_positions"] = {
        "serialized_chunk1": imm_step_memory(args, corpus, kn, 1),
        "plain_autograd": imm_step_memory(args, corpus, kn, 0)}
    result["cuda_tests"] = cuda_tests() if not args.no_tests else {"passed": None,
                                                                   "summary": "skipped"}
    result["forbidden_modules_loaded"] = sorted(
        m for m in ("ray", "datasets", "gymnasium", "optuna") if sys.modules.get(m) is not None)
    result["wall_s"] = round(time.time() - t0, 1)
    text = json.dumps(result, indent=1, default=lambda v: None if isinstance(v, float)
                      and not math.isfinite(v) else str(v))
    Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
