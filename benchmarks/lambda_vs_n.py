"""Benchmark of the lambda-vs-n sweep: the batched trainers vs one-model loops, and the wall
time of the default toy and real-data sweeps (Ray start-up included).

Run:
    python benchmarks/lambda_vs_n.py               # ~4 minutes on 2 cores
    python benchmarks/lambda_vs_n.py --quick       # smaller batches and the --quick sweeps
    python benchmarks/lambda_vs_n.py --skip-sweep  # trainers only

Prints one JSON object, every ratio measured in this one run (one torch thread, as in a
1-CPU Tune trial):

- ``trainer``: the toy (binary, n = 32): models per second when all models (seeds x ratios)
  are one batched fit, and when the same function fits them one at a time; the speed-up.
- ``multiclass_trainer``: the same for the multiclass trainer on scikit-learn's wine table
  (3 classes, 13 features, restricted: alcohol and proline, nearest-neighbour induced
  model, n = 40), batched BFGS vs the same BFGS one model at a time, per method. Goal
  >= 20x.
- ``sweep`` / ``table_sweep``: ``sweeps/lambda_vs_n.py`` (the toy, and breast cancer with
  restricted column "worst perimeter") in a subprocess: trials, rows, wall seconds, the
  trials' summed CPU seconds (``fit/cpu_seconds``; divided by the cores it estimates the
  wall time on idle cores when the machine is shared) and the load average before/after.
  Goal for the table: < 5 minutes on 2 cores.
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

from imm_ray.experiments.lambda_vs_n.config import DEFAULT_RATIOS, ToyConfig
from imm_ray.experiments.lambda_vs_n.toy.trainer import cell_data as toy_cell_data
from imm_ray.tabular.cell import cell_data
from imm_ray.tabular.config import FitConfig, TabularConfig
from imm_ray.tabular.data import load_table
from imm_ray.tabular.trainer import fit_models, make_model

ROOT = Path(__file__).resolve().parents[1]
TABLE = ["--dataset", "sklearn:breast_cancer", "--target", "target", "--restricted",
         "worst perimeter"]


def rates(data, method: str, seeds: int, ratios, loop_models: int) -> dict:
    """Models/s of one batched fit of ``seeds x len(ratios)`` models vs fitting
    ``loop_models`` of them one by one with the same function (and optimiser)."""
    fit = FitConfig()
    rep = torch.arange(seeds).repeat_interleave(len(ratios))
    train = data.train.take(rep)
    ratio = torch.tensor(ratios, dtype=torch.float64).repeat(seeds)
    model = make_model(fit, train.features.shape[-1], data.num_classes, data.restricted_width)
    fit_models(model, train.take(torch.arange(2)), method, ratio[:2], fit)  # warm-up
    start = time.perf_counter()
    fit_models(model, train, method, ratio, fit)
    batched = len(ratio) / (time.perf_counter() - start)
    start = time.perf_counter()
    for m in range(loop_models):
        fit_models(model, train.take(torch.tensor([m])), method, ratio[m:m + 1], fit)
    looped = loop_models / (time.perf_counter() - start)
    return {"n": train.y.shape[1], "classes": data.num_classes, "models": len(ratio),
            "vectorised_models_per_s": round(batched, 1), "loop_models_per_s": round(looped, 1),
            "speedup": round(batched / looped, 1)}


def run_sweep(extra: list[str], quick: bool, name: str, keep: str | None) -> dict:
    """The sweep script in a subprocess on a fresh local Ray; wall time includes start-up.
    Its experiment is ``<keep>/<name>`` when ``keep`` is given, else a deleted temp dir."""
    with tempfile.TemporaryDirectory() as scratch:
        tmp = keep or scratch
        cmd = [sys.executable, str(ROOT / "sweeps" / "lambda_vs_n.py"), *extra,
               "--storage-path", tmp, "--name", name, *(["--quick"] if quick else [])]
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        load_before = os.getloadavg()
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"sweep failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        exp = Path(tmp, name)
        results = [json.loads(lines[-1]) for p in exp.glob("train_lambda_cell_*/result.json")
                   if (lines := p.read_text().splitlines())]
        cpu = sum(r.get("fit/cpu_seconds", 0.0) for r in results)
        rows = sum(1 for _ in open(exp / "lambda_vs_n.csv")) - 1
        # as a terminal shows it: a progress line redrawn with \r counts once
        shown_lines = [ln for ln in (proc.stdout + proc.stderr).split("\n")
                       if ln.rsplit("\r", 1)[-1].strip()]
    shown = " ".join(f"'{a}'" if " " in a else a for a in cmd[2:]).replace(tmp, "<storage>")
    return {"command": f"python sweeps/lambda_vs_n.py {shown}", "trials": len(results),
            "rows": rows, "wall_seconds": round(wall, 1),
            "console_lines": len(shown_lines),
            "trial_cpu_seconds": round(cpu, 1),
            "load_average_before": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small batches and the --quick sweeps")
    p.add_argument("--skip-sweep", action="store_true", help="benchmark the trainers only")
    p.add_argument("--storage-path", default=None,
                   help="keep the sweeps' experiments here (default: a deleted temp dir)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # what a 1-CPU Tune trial gets
    seeds, loop = (10, 10) if args.quick else (100, 50)
    ratios = [i / 10 for i in range(10)]
    toy = toy_cell_data(ToyConfig(valid_size=10, test_size=10), 32, range(seeds))
    out = {"cpus": os.cpu_count(), "torch_threads": 1,
           "trainer": {m: rates(toy, m, seeds, ratios, loop)
                       for m in ("imm", "reverse_kd", "noising")}}
    wine = TabularConfig(dataset="sklearn:wine", target="target",
                         restricted=("alcohol", "proline"), aux_fraction=0.3)
    data = cell_data(load_table(wine.dataset, wine, verbose=False), wine, 40, range(seeds))
    out["multiclass_trainer"] = {"table": "sklearn:wine", **{
        m: rates(data, m, seeds, ratios, loop) for m in ("imm", "reverse_kd", "noising")}}
    if not args.skip_sweep:
        out["sweep"] = run_sweep([], args.quick, "bench_toy", args.storage_path)
        out["table_sweep"] = run_sweep(TABLE, args.quick, "bench_table", args.storage_path)
        out["default_ratios"] = list(DEFAULT_RATIOS)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
