"""Benchmark of the lambda-vs-n sweep: vectorised toy trainer vs a one-model loop, and
the default sweep's trial count and wall time (Ray start-up included).

Run:
    python benchmarks/lambda_vs_n.py               # ~5 minutes on 2 cores
    python benchmarks/lambda_vs_n.py --quick       # smaller batches and the --quick sweep
    python benchmarks/lambda_vs_n.py --skip-sweep  # trainer only

Prints one JSON object. ``trainer``: for each method, fitted models per second when all
models (seeds x ratios of one n) are one ``fit_models`` call, and when the same code fits
them one at a time (measured in the same run, one torch thread as in a Tune trial), and
the speed-up. ``sweep``: ``sweeps/lambda_vs_n.py`` run in a subprocess: trials, rows,
wall seconds, and the load average before/after (the cores may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from imm_ray.toy.config import ToyConfig
from imm_ray.toy.data import ToyData, sample_batch
from imm_ray.toy.trainer import fit_models

ROOT = Path(__file__).resolve().parents[1]


def trainer_rates(method: str, n: int, seeds: int, loop_models: int) -> dict:
    """Models/s of one batched fit of ``seeds x 10`` models vs fitting ``loop_models`` of
    them one by one with the same function."""
    cfg = ToyConfig()
    ratios = [i / 10 for i in range(10)]
    data = sample_batch(cfg.problem(), range(seeds), n)
    data = ToyData(*(t.repeat_interleave(len(ratios), 0) for t in data))
    ratio = torch.tensor(ratios, dtype=torch.float64).repeat(seeds)
    fit_models(ToyData(*(t[:2] for t in data)), method, ratio[:2], cfg)  # warm-up
    start = time.perf_counter()
    fit_models(data, method, ratio, cfg)
    batched = len(ratio) / (time.perf_counter() - start)
    start = time.perf_counter()
    for m in range(loop_models):
        fit_models(ToyData(*(t[m:m + 1] for t in data)), method, ratio[m:m + 1], cfg)
    looped = loop_models / (time.perf_counter() - start)
    return {"n": n, "models": len(ratio), "vectorised_models_per_s": round(batched, 1),
            "loop_models_per_s": round(looped, 1), "speedup": round(batched / looped, 1)}


def run_sweep(quick: bool) -> dict:
    """The sweep script in a subprocess on a fresh local Ray; wall time includes start-up."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, str(ROOT / "sweeps" / "lambda_vs_n.py"), "--storage-path", tmp,
               "--name", "bench", *(["--quick"] if quick else [])]
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        load_before = os.getloadavg()
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"sweep failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        exp = Path(tmp, "bench")
        trials = len(list(exp.glob("train_lambda_cell_*/result.json")))
        rows = sum(1 for _ in open(exp / "lambda_vs_n.csv")) - 1
    return {"command": " ".join(["python sweeps/lambda_vs_n.py", *cmd[2:]]).replace(tmp, "<tmp>"),
            "trials": trials, "rows": rows, "wall_seconds": round(wall, 1),
            "load_average_before": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small batches and the --quick sweep")
    p.add_argument("--skip-sweep", action="store_true", help="benchmark the trainer only")
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # what a 1-CPU Tune trial gets
    seeds, loop = (10, 10) if args.quick else (100, 50)
    out = {"cpus": os.cpu_count(), "torch_threads": 1, "trainer": {
        m: trainer_rates(m, 32, seeds, loop) for m in ("imm", "reverse_kd", "noising")}}
    if not args.skip_sweep:
        out["sweep"] = run_sweep(args.quick)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
