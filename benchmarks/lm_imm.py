"""What IMM costs in LM training: time per step, throughput, where the time goes, memory.

Prints one JSON object, measured in one run:

- ``time``: per model at the ``cpu`` preset of ``sweeps/lm_ptb.py`` (train_fraction 0.02),
  seconds per training step averaged over one epoch with IMM (k = 10) and without (the
  two epochs interleaved in blocks of 3 steps), their ratio (goal: <= 2), tokens per
  second, and each epoch's time split (main forward, IMM sampling, IMM forward and loss,
  backward, optimizer).
- ``full_data``: the ``cpu-full`` preset (2 x 200 LSTM, SGD, the whole training split):
  seconds per step of ``none``, ``imm`` (its amortised settings) and ``reverse_kd`` over
  the same batches, interleaved in blocks of 3 steps, and the ratios to ``none``
  (goal for IMM: <= 2).
- ``memory``: peak resident memory added by IMM training steps over a step without IMM
  (LSTM, cpu preset) for k in {1, 10, 50}, serialized (chunk 1) and plain autograd, each
  in a fresh subprocess (Linux: the peak is reset through ``/proc/self/clear_refs``).

Run::

    python benchmarks/lm_imm.py                 # ~4 min on an idle 2-core machine
    python benchmarks/lm_imm.py --quick         # a few steps, for tests
    python benchmarks/lm_imm.py --only full_data   # one part

Measured figures are in docs/lm_ptb.md, "Cost of IMM" (with the machine's load).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from imm_ray.experiments.lm_ptb.config import PRESETS, preset_trial_config
from imm_ray.lm import data as lmdata
from imm_ray.lm.config import LMConfig
from imm_ray.lm.trainer import LMTrainer

PARTS = ("time", "full_data", "memory")
"""What the benchmark can measure (``--only``)."""


def preset_config(model: str, method: str, data_path: str, preset: str = "cpu",
                  **kw) -> LMConfig:
    """``preset``'s trial config for ``model`` and ``method`` at its smallest fraction."""
    grid = PRESETS[preset]["grid"]
    fields = {**preset_trial_config(preset, model), "method": method,
              "imm_lambda": grid["imm_lambdas"][0], "k": grid["ks"][0],
              "train_fraction": min(grid["train_fractions"]), "threads": 1,
              "device": "cpu", "data_path": data_path}
    return LMConfig(**{**fields, **kw})


def time_pair(model: str, corpus, kn, data_path: str, max_steps: int | None,
              block: int = 3, preset: str = "cpu",
              methods: tuple[str, ...] = ("none", "imm")) -> dict:
    """One epoch (or ``max_steps``) of each method over the same batches, interleaved in
    blocks of ``block`` steps so that a change in machine load hits all alike; seconds
    per step, tokens/s, time splits, and each method's time over ``none``'s."""
    trainers = {m: LMTrainer(preset_config(model, m, data_path, preset), corpus, kn)
                for m in methods}
    batches = list(lmdata.bptt_batches(trainers["none"].rows, trainers["none"].cfg.bptt))
    batches = batches[:max_steps] if max_steps else batches
    spent, states = {m: 0.0 for m in trainers}, {m: None for m in trainers}
    for start in range(0, len(batches), block):
        for m, tr in trainers.items():
            tr.model.train()
            t0 = time.perf_counter()
            for inputs, targets in batches[start:start + block]:
                states[m] = tr.model.detach_state(states[m])
                _, states[m] = tr.train_step(inputs, targets, states[m])
            spent[m] += time.perf_counter() - t0
    tokens = sum(t.numel() for _, t in batches)
    out = {m: {"s_per_step": spent[m] / len(batches), "tokens_per_s": tokens / spent[m],
               "steps": len(batches),
               "time_split": {k: round(v / spent[m], 3)
                              for k, v in sorted(trainers[m].timers.items())}}
           for m in trainers}
    cfg = trainers["imm"].cfg
    ratios = {f"{m}_over_none": spent[m] / spent["none"] for m in trainers if m != "none"}
    return {**ratios, **out,
            "imm_settings": {"k": cfg.k, "L": cfg.imm_length,
                             "contexts_per_step": cfg.imm_contexts, "every": cfg.imm_every}}


def time_models(data_path: str, max_steps: int | None) -> dict:
    from imm_ray.restricted.kneser_ney import KneserNeyBigram

    corpus = lmdata.load_corpus(data_path)
    kn = KneserNeyBigram.fit(corpus.train, corpus.vocab_size)
    return {model: time_pair(model, corpus, kn, data_path, max_steps)
            for model in ("lstm", "transformer")}


def time_full_data(data_path: str, steps: int) -> dict:
    """The cpu-full preset's LSTM: none / imm / reverse_kd over the same ``steps`` batches."""
    from imm_ray.restricted.kneser_ney import KneserNeyBigram

    corpus = lmdata.load_corpus(data_path)
    kn = KneserNeyBigram.fit(corpus.train, corpus.vocab_size)
    return time_pair("lstm", corpus, kn, data_path, steps, preset="cpu-full",
                     methods=("none", "imm", "reverse_kd"))


def memory_child(data_path: str, k: int, chunk: int) -> None:
    """(Subprocess) peak RSS added by two IMM steps; prints MB."""
    cfg = preset_config("lstm", "imm", data_path, k=k, imm_chunk=chunk)
    tr = LMTrainer(cfg)
    batches = lmdata.bptt_batches(tr.rows, cfg.bptt)
    x, y = next(batches)
    tr.cfg.method = "none"
    tr.train_step(x, y, None)  # warm-up without IMM: the baseline
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    base = _status_kb("VmRSS")
    tr.cfg.method = "imm"
    for _ in range(2):
        x, y = next(batches)
        tr.train_step(x, y, None)
    peak = _status_kb("VmHWM")
    print(json.dumps({"added_mb": round((peak - base) / 1024, 1),
                      "peak_mb": round(peak / 1024, 1)}))


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory(data_path: str, ks: list[int]) -> dict:
    out = {}
    for label, chunk in (("serialized_chunk1", 1), ("plain_autograd", 0)):
        out[label] = {}
        for k in ks:
            cmd = [sys.executable, __file__, "--memory-child", str(k), str(chunk),
                   "--data-path", data_path]
            res = subprocess.run(cmd, capture_output=True, text=True, check=True,
                                 env={**os.environ, "OMP_NUM_THREADS": "1"})
            out[label][str(k)] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=None,
                   help="PTB folder (default $IMM_RAY_PTB_DIR or ../shared/data/ptb)")
    p.add_argument("--data-path", default=None, help="prepared corpus (skips --data-dir)")
    p.add_argument("--quick", action="store_true", help="5 steps per timing, k in {1, 10}")
    p.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS),
                   help="measure only these parts")
    p.add_argument("--memory-child", nargs=2, type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    data_path = args.data_path or str(lmdata.prepare_corpus(args.data_dir))
    if args.memory_child:
        memory_child(data_path, *args.memory_child)
        return
    t0, load_start = time.time(), os.getloadavg()
    parts = {"time": lambda: time_models(data_path, 5 if args.quick else None),
             "full_data": lambda: time_full_data(data_path, 3 if args.quick else 150),
             "memory": lambda: memory(data_path, [1, 10] if args.quick else [1, 10, 50])}
    result = {name: parts[name]() for name in PARTS if name in args.only}
    result.update({"torch_threads": 1, "load_average_start": load_start,
                   "load_average_end": os.getloadavg(), "wall_s": None})
    result["wall_s"] = round(time.time() - t0, 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
