"""Peak memory of one IMM gradient: plain autograd vs ``core.serialized_imm_backward``.

A 2-layer LSTM language model (vocabulary 10k, hidden 200), N = 32 restricted contexts,
k histories of 35 tokens each. Plain autograd keeps k graphs alive, so its peak grows
about linearly in k; the serialized gradient (chunk size 4) keeps one chunk's graph.

Peak memory on CPU is each measurement's peak RSS minus the RSS just before it, in a
fresh process whose glibc returns every block >= 128 KiB to the OS on free
(``MALLOC_MMAP_THRESHOLD_``), so RSS follows live tensor memory (CPU PyTorch has no
allocator statistics); on CUDA it is ``torch.cuda.max_memory_allocated``. The model's
parameters are in the baseline; their gradients (about 16 MB) are in every figure.
Prints JSON.

    python benchmarks/imm_memory.py               # CPU, k in 1 4 16 64 (about 2 min)
    python benchmarks/imm_memory.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import time

import torch

from imm_ray import core

VOCAB, HIDDEN, LENGTH, N = 10_000, 200, 35, 32


class LSTMLastLogits(torch.nn.Module):
    """Token windows ``[M, L]`` -> next-word logits after the last token ``[M, V]``."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(VOCAB, HIDDEN)
        self.lstm = torch.nn.LSTM(HIDDEN, HIDDEN, num_layers=2, batch_first=True)
        self.out = torch.nn.Linear(HIDDEN, VOCAB)

    def forward(self, x):
        h, _ = self.lstm(self.emb(x))
        return self.out(h[:, -1])


def one_gradient(model, method: str, n: int, k: int, device: str, chunk: int) -> float:
    """Run one IMM gradient of ``model`` and return the wall time in seconds."""
    g = torch.Generator().manual_seed(0)
    samples = torch.randint(0, VOCAB, (n, k, LENGTH), generator=g).to(device)
    probs = torch.softmax(torch.randn(n, VOCAB, generator=g), -1).to(device)
    model.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    if method == "plain":
        logits = model(samples.view(n * k, LENGTH)).view(n, k, VOCAB)
        core.imm_loss(logits, probs).backward()
    else:
        core.serialized_imm_backward(model, samples, probs, chunk_size=chunk)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _measure(method, k, device, chunk, queue):
    model = LSTMLastLogits().to(device)
    one_gradient(model, method, 1, 1, device, chunk)  # warm-up on a tiny input: kernels
    model.zero_grad(set_to_none=True)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss_bytes()
    seconds = one_gradient(model, method, N, k, device, chunk)
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    queue.put({"peak_mb": round(max(peak, 0) / 2**20, 1), "seconds": round(seconds, 3)})


def measure(method: str, k: int, device: str, chunk: int) -> dict:
    # A fresh process per figure: ru_maxrss is a lifetime maximum. A fixed mmap
    # threshold makes glibc unmap freed blocks, so RSS tracks live memory.
    os.environ["MALLOC_MMAP_THRESHOLD_"] = str(128 * 1024)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_measure, args=(method, k, device, chunk, q))
    p.start()
    out = q.get()
    p.join()
    return out


def ratio(rows: dict, a: str, b: str) -> float:
    return round(rows[a]["peak_mb"] / rows[b]["peak_mb"], 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 4, 16, 64])
    ap.add_argument("--chunk", type=int, default=4)
    ap.add_argument("--time-k", type=int, default=16)
    args = ap.parse_args()
    rows = {m: {str(k): measure(m, k, args.device, args.chunk) for k in args.ks}
            for m in ("plain", "serialized")}
    # chunk_size=1 at the smallest and largest k: the peak follows the chunk, not k.
    chunk1 = {str(k): measure("serialized", k, args.device, 1)
              for k in (min(args.ks), max(args.ks))}
    ser, plain = rows["serialized"], rows["plain"]
    lo, hi = str(min(args.ks)), str(max(args.ks))
    tk = str(args.time_k)
    print(json.dumps({
        "setup": {"vocab": VOCAB, "hidden": HIDDEN, "history": LENGTH, "contexts": N,
                  "chunk_size": args.chunk, "device": args.device,
                  "peak": "peak RSS - RSS before (fixed mmap threshold)" if args.device == "cpu"
                  else "cuda max_memory_allocated"},
        "peak_mb": {m: {k: v["peak_mb"] for k, v in r.items()} for m, r in rows.items()},
        f"serialized_peak_ratio_k{hi}_over_k{lo}": ratio(ser, hi, lo),
        f"plain_peak_ratio_k{hi}_over_k{lo}": ratio(plain, hi, lo),
        f"serialized_peak_ratio_k{hi}_over_k{args.chunk}": (
            ratio(ser, hi, str(args.chunk)) if str(args.chunk) in ser else None),
        "serialized_chunk1_peak_mb": {k: v["peak_mb"] for k, v in chunk1.items()},
        f"serialized_chunk1_peak_ratio_k{hi}_over_k{lo}": ratio(chunk1, hi, lo),
        f"time_ratio_serialized_over_plain_k{tk}": (
            round(ser[tk]["seconds"] / plain[tk]["seconds"], 2) if tk in ser else None),
        "seconds": {m: {k: v["seconds"] for k, v in r.items()} for m, r in rows.items()},
    }, indent=2))


if __name__ == "__main__":
    main()
