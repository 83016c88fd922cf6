"""What a sweep's ``--help`` and a bad flag cost, against ``python -c pass`` and
``python -c "import torch"``, measured in one run on this machine (so the load is shared).

Each command runs ``--repeats`` times in a fresh interpreter, interleaved (one of each,
then again), and the median wall time is kept; ``load_avg`` is the 1-minute load when it
started. A sweep's ``--help`` and an error in a flag's value (``--seeds 0``) must cost
less than importing torch: torch, Ray and pandas are imported only by the steps that use
them. Prints JSON.

    python benchmarks/cli_startup.py                 # every sweep, 5 repeats (~1-3 min)
    python benchmarks/cli_startup.py --repeats 3 --sweeps lambda_vs_n
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = ("lambda_vs_n", "lm_ptb", "rl_restricted_view", "rl_gridworld", "lm_transformers",
          "lm_finetune")
BAD_FLAG = {"lambda_vs_n": ["--seeds", "0"], "lm_ptb": ["--methods", "kd"],
            "rl_restricted_view": ["--seeds", "0"], "rl_gridworld": ["--configs", "x"],
            "lm_transformers": ["--methods", "kd"], "lm_finetune": ["--methods", "kd"]}
"""A value each sweep refuses (exit 2) before Ray starts."""


def commands(sweeps) -> dict[str, list[str]]:
    out = {"python -c pass": ["-c", "pass"], "python -c 'import torch'": ["-c", "import torch"]}
    for name in sweeps:
        script = str(ROOT / "sweeps" / f"{name}.py")
        out[f"{name} --help"] = [script, "--help"]
        out[f"{name} {' '.join(BAD_FLAG[name])}"] = [script, *BAD_FLAG[name]]
    return out


def time_once(argv: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, proc.returncode


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--sweeps", nargs="+", choices=SWEEPS, default=list(SWEEPS))
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats must be >= 1, got {args.repeats}")
    cmds = commands(args.sweeps)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    codes: dict[str, int] = {}
    load = os.getloadavg()[0]
    for _ in range(args.repeats):
        for name, cmd in cmds.items():
            seconds, codes[name] = time_once(cmd)
            times[name].append(seconds)
    torch_s = statistics.median(times["python -c 'import torch'"])
    result = {"python": sys.version.split()[0], "cpus": os.cpu_count(), "load_avg": load,
              "repeats": args.repeats,
              "median_s": {k: round(statistics.median(v), 3) for k, v in times.items()},
              "exit_codes": codes,
              "cheaper_than_import_torch": {k: statistics.median(v) < torch_s
                                            for k, v in times.items()
                                            if k.startswith(tuple(args.sweeps))}}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
