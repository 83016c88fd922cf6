"""Sweep drivers the cluster tests run in a subprocess (``python drivers.py SCENARIO ...``),
all built on the shared wiring (``sweep.sweep_parser`` / ``run_tuner``) like the real
sweeps, so they join ``RAY_ADDRESS`` and honour ``--resume``, ``--max-failures``,
``--gpus-per-trial`` / ``--cpus-per-trial``. Each prints one ``RESULT <json>`` line.

- ``resources``: two trials report what Ray gave them (resources, GPU ids, torch device,
  node), one through ``sweep.report`` and one through plain ``tune.report``.
- ``lm_kill``: two identical LM trials; the first trial's worker process is SIGKILLed once
  its epoch-2 checkpoint is registered (a callback here); Tune retries it from there.
- ``resume``: trials of a few checkpointed steps; each step is logged to ``--work-log``
  so the test can see what ran twice after the driver is killed and ``--resume``d.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import ray
from ray import tune

from imm_ray import sweep


def parse(argv: list[str], experiment: str, **extra):
    p = sweep.sweep_parser(experiment, experiment)
    for name, kind in extra.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=kind)
    args = p.parse_args(argv)
    sweep.validate_common(args)
    sweep.init_ray(args, logging_level="ERROR")
    return args


# ----------------------------------------------------------------------------- resources


def report_resources(config: dict) -> None:
    """What the trial got. Trial 1 reports through plain ``tune.report`` (no node id):
    run_tuner's NodeIdCallback must add it."""
    try:
        device = sweep.trial_device(config["gpus"]).type
    except sweep.NoGPUError as e:  # a CUDA-less torch on the GPU node: loud, not CPU
        device = f"{type(e).__name__}: {e}"
    bundles = tune.get_context().get_trial_resources().bundles
    node = ray.get_runtime_context().get_node_id()
    node_resources = next(n["Resources"] for n in ray.nodes() if n["NodeID"] == node)
    report = sweep.report if config["i"] == 0 else tune.report
    report({"bundles": bundles, "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
            "cuda_visible": os.environ.get("CUDA_VISIBLE_DEVICES"), "device": device,
            "node_resources": node_resources, "own_node_id": node})


def resources(argv: list[str]) -> list[dict]:
    args = parse(argv, "resources")
    grid = sweep.run_tuner(report_resources, {"gpus": args.gpus_per_trial,
                                                 "i": tune.grid_search([0, 1])}, args)
    keys = ("bundles", "gpu_ids", "cuda_visible", "device", "node_resources", "node_id",
            "own_node_id")
    return [{k: r.metrics.get(k) for k in keys} for r in grid]


# ----------------------------------------------------------------------------- lm_kill


def lm_kill(argv: list[str]) -> list[dict]:
    from imm_ray.experiments.lm_ptb.config import preset_trial_config
    from imm_ray.experiments.lm_ptb.trainable import train_lm

    args = parse(argv, "lm_kill", data_path=str, epochs=int, kill_log=str)
    fixed = {**preset_trial_config("quick", "lstm"), "data_path": args.data_path,
             "epochs": args.epochs, "threads": 1, "device": "cpu", "valid_tokens": 0,
             "test_tokens": 0}
    space = {**fixed, "method": "imm", "imm_lambda": 0.5, "k": 4, "train_fraction": 1.0,
             "seed": tune.grid_search([0, 0])}  # identical twins
    grid = sweep.run_tuner(train_lm, space, args, metric="eval/valid_ppl", mode="min",
                              checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                              callbacks=[KillFirstTrialWorker(2, args.kill_log)])
    rows = []
    for r in grid:
        df = r.metrics_dataframe
        rows.append({"trial_id": r.metrics["trial_id"], "valid_ppl": r.metrics["valid_ppl"],
                     "test_ppl": r.metrics["test_ppl"], "epochs": df["epoch"].tolist(),
                     "pids": df["pid"].tolist(), "error": None if r.error is None else
                     str(r.error)})
    return sorted(rows, key=lambda row: row["trial_id"])


class KillFirstTrialWorker(tune.Callback):
    """SIGKILL the first trial's worker process once Tune has registered the checkpoint
    of its epoch ``after`` (``on_checkpoint`` runs as that checkpoint is registered)."""

    def __init__(self, after: int, log: str):
        self.after, self.log, self.done = after, log, False

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        result = trial.last_result
        if self.done or trial is not trials[0] or result.get("epoch") != self.after:
            return
        os.kill(result["pid"], signal.SIGKILL)
        self.done = True
        Path(self.log).write_text(json.dumps({"trial_id": trial.trial_id,
                                              "pid": result["pid"], "epoch": self.after}))


# ----------------------------------------------------------------------------- resume


def count_steps(config: dict) -> None:
    """``steps`` checkpointed steps; the value is a pure function of (seed, step)."""
    start = 0
    if (ckpt := tune.get_checkpoint()) is not None:
        with ckpt.as_directory() as d:
            start = int(Path(d, "step").read_text())
    for step in range(start, config["steps"]):
        time.sleep(config["sleep"])
        value = config["seed"] * 1000 + step + 1
        with open(config["work_log"], "a") as f:
            f.write(f"{config['seed']} {step + 1}\n")
        with tempfile.TemporaryDirectory() as d:
            Path(d, "step").write_text(str(step + 1))
            sweep.report({"step": step + 1, "value": value},
                            checkpoint=tune.Checkpoint.from_directory(d))


def resume(argv: list[str]) -> list[dict]:
    import pandas as pd

    args = parse(argv, "resume", trials=int, steps=int, sleep=float, work_log=str, csv=str)
    space = {"seed": tune.grid_search(list(range(args.trials))), "steps": args.steps,
             "sleep": args.sleep, "work_log": args.work_log}
    grid = sweep.run_tuner(count_steps, space, args, metric="value", mode="max",
                              checkpoint_config=tune.CheckpointConfig(num_to_keep=1))
    rows = [{"seed": r.config["seed"], "step": r.metrics.get("step"),
             "value": r.metrics.get("value")} for r in grid]
    pd.DataFrame(rows).to_csv(args.csv, index=False)
    return rows


if __name__ == "__main__":
    scenario, rest = sys.argv[1], sys.argv[2:]
    out = {"resources": resources, "lm_kill": lm_kill, "resume": resume}[scenario](rest)
    print("RESULT " + json.dumps(out, default=str), flush=True)
