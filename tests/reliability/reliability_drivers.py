"""A minimal sweep on the shared wiring (imm_ray.sweep: parse_sweep_args, init_ray, run_tuner,
print_outputs), run in a subprocess by the reliability tests::

    python tests/reliability/reliability_drivers.py --mode ok|fail|slow --trials N ...

``ok``: each trial reports once. ``fail``: each trial raises a ValueError whose message
carries ANSI colour codes (what Ray's wrapper must not leak into the summary). ``slow``:
each trial sleeps ``--sleep`` s (appending "start i" / "done i" to ``--work-log``) so a
test can interrupt or kill the driver mid-sweep. Ends like a real sweep: a CSV, the
``results:`` line, exit 1 if any trial failed.
"""

from __future__ import annotations

import sys
import time

import pandas as pd
from ray import tune

from imm_ray import sweep


def log(path: str, line: str) -> None:
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def trainable(config: dict) -> None:
    i = config["i"]
    if config["mode"] == "fail":
        raise ValueError(f"\x1b[31mboom {i}\x1b[0m: lr must be > 0, got {-i}")
    log(config["work_log"], f"start {i}")
    time.sleep(config["sleep"])
    log(config["work_log"], f"done {i}")
    sweep.report({"score": float(i)})


def parse_args(argv=None):
    p = sweep.sweep_parser("reliability driver", "rel")
    p.add_argument("--mode", choices=["ok", "fail", "slow"], default="ok")
    p.add_argument("--trials", type=int, default=2)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--work-log", default="")
    return sweep.parse_sweep_args(p, argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    sweep.init_ray(args)
    space = {"i": tune.grid_search(list(range(args.trials))), "mode": args.mode,
             "sleep": args.sleep, "work_log": args.work_log}
    grid = sweep.run_tuner(trainable, space, args)
    rows = pd.DataFrame([{"i": r.config["i"], "score": r.metrics.get("score")} for r in grid])
    csv = sweep.output_dir(args) / "rows.csv"
    rows.to_csv(csv, index=False)
    print(f"{len(rows)} rows")
    sweep.print_outputs(csv, [])
    return 1 if grid.num_errors else 0


if __name__ == "__main__":
    sys.exit(main())
