"""Helpers of the cluster tests: run a driver of drivers.py against the loopback cluster,
read the sockets a set of processes holds (to check nothing leaves loopback), and a tiny
corpus for the language-model trainable."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Iterable
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


def sockets_of(pids: Iterable[int]) -> list[dict]:
    """Every TCP/UDP socket the processes hold: protocol, state, local and remote address.

    Read from /proc (no ``ss`` needed); TCP state ``0A`` is LISTEN.
    """
    inodes = {}
    for pid in pids:
        try:
            for fd in os.scandir(f"/proc/{pid}/fd"):
                link = os.readlink(fd.path)
                if link.startswith("socket:["):
                    inodes[link[8:-1]] = pid
        except OSError:
            continue
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[9] in inodes:
                found.append({"proto": proto, "state": f[3], "pid": inodes[f[9]],
                              "local": _address(f[1]), "remote": _address(f[2])})
    return found


def _address(hex_addr: str) -> tuple[str, int]:
    host, port = hex_addr.split(":")
    raw = bytes.fromhex(host)
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # per-word byte order
    return str(ipaddress.ip_address(raw)), int(port, 16)


def is_loopback(host: str) -> bool:
    ip = ipaddress.ip_address(host)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def off_loopback(sockets: Iterable[dict]) -> list[dict]:
    """Sockets listening on, bound to, or connected to a non-loopback address."""
    bad = []
    for s in sockets:
        (local, _), (remote, rport) = s["local"], s["remote"]
        connected = rport != 0 or not ipaddress.ip_address(remote).is_unspecified
        if not is_loopback(local) or (connected and not is_loopback(remote)):
            bad.append(s)
    return bad
