"""Helpers of the cluster tests: run a driver of drivers.py against the loopback cluster,
and a tiny corpus for the language-model trainable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DRIVERS = Path(__file__).with_name("drivers.py")


def driver_env(cluster=None) -> dict[str, str]:
    """This environment without RAY_ADDRESS, plus the cluster's (if given)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    return {**env, **cluster.env()} if cluster else env


def run_driver(cluster, scenario: str, *args: str, timeout: float = 240):
    """Run ``drivers.py SCENARIO ARGS`` against the cluster; returns (process, RESULT)."""
    proc = subprocess.run([sys.executable, str(DRIVERS), scenario, *args],
                          capture_output=True, text=True, timeout=timeout,
                          env=driver_env(cluster), cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, parse_result(proc.stdout)


def parse_result(stdout: str):
    line = next(ln for ln in stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def tiny_corpus(root: Path, lines=(300, 40, 40), vocab=30, seed=0) -> Path:
    """Zipf-ish sentences in PTB's format (ptb.{train,valid,test}.txt), prepared as the
    LM sweep does; returns the .npz path trials read."""
    from imm_ray.lm.data import prepare_corpus

    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(vocab)] + ["<unk>"]
    p = 1.0 / np.arange(1, len(words) + 1)
    root.mkdir(parents=True)
    for split, n in zip(("train", "valid", "test"), lines, strict=True):
        text = "".join(" " + " ".join(rng.choice(words, size=int(rng.integers(3, 15)),
                                                 p=p / p.sum())) + " \n" for _ in range(n))
        (root / f"ptb.{split}.txt").write_text(text)
    return prepare_corpus(root, cache_dir=root / "cache")
