"""The local Ray of a sweep goes away with its driver, even after ``kill -9``.

Ray ties most of a local Ray's processes to the driver that started it (the GCS and the
raylet die with it, the workers follow the raylet), but the raylet's two agents
(``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) first try to report the raylet's
death to the dead GCS, with a 60 s timeout, and only then exit: for a minute after a
SIGKILLed driver they hold memory and ports (measured with Ray 2.60).

:func:`start_reaper` (called by :func:`imm_ray.sweep.ray_start.start_local_ray`) starts
a small watcher process in its own session (Linux: it reads ``/proc``): it records the
local Ray's processes (``<session dir>/imm_ray_processes.json``: the node's own
processes and the raylet's descendants, each with its start time) and, once the driver
is gone, SIGTERMs what is left of them, then SIGKILLs after a grace period; it exits by
itself when that Ray is shut down normally. It only ever signals processes it
recorded with the same start time, so other Rays on the machine are never touched.
Should the watcher itself have been killed, the same cleanup is one command::

    python -m imm_ray.sweep.reaper clean /tmp/ray/session_<...>   # that Ray's session folder
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

RECORD = "imm_ray_processes.json"
POLL_S = 1.0
GRACE_S = 3.0


def start_reaper(timeout: float = 10.0) -> subprocess.Popen | None:
    """Watch this process's local Ray (after ``ray.init`` started it); returns once the
    watcher has recorded the Ray's processes. None if this process did not start a local
    Ray node (a joined cluster is not ours to stop) or is not on Linux."""
    import ray

    node = getattr(ray._private.worker, "_global_node", None)
    if not sys.platform.startswith("linux") or node is None or not getattr(node, "head", False):
        return None
    session = node.get_session_dir_path()
    pids = [info.process.pid for infos in node.all_processes.values() for info in infos
            if info.process is not None]
    # This file run as a script: no `import imm_ray` (and torch) in the watcher.
    cmd = [sys.executable, __file__, "watch", "--driver", str(os.getpid()),
           "--driver-start", str(_started(os.getpid())), "--session", session,
           "--pids", *map(str, pids)]
    with open(Path(session, "logs", "imm_ray_reaper.log"), "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)  # a Ctrl-C or kill -9 of the group
    deadline = time.time() + timeout  # must not stop it
    while not Path(session, RECORD).exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    return proc


def _stat(pid: int) -> tuple[str, int, int] | None:
    """``(state, parent pid, start time in clock ticks)`` from ``/proc/<pid>/stat``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # after "pid (comm)"; comm may hold spaces
    return fields[0], int(fields[1]), int(fields[19])


def _started(pid: int) -> int | None:
    stat = _stat(pid)
    return None if stat is None else stat[2]


def _alive(pid: int, started: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[2] == started and stat[0] not in ("Z", "X")


def _descendants(known: dict[int, int]) -> dict[int, int]:
    """Every live process below a live recorded one: ``{pid: start time}``."""
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    found, frontier = {}, {p for p, t in known.items() if _alive(p, t)}
    while frontier:
        children = {p for p, (state, ppid, _) in table.items()
                    if ppid in frontier and p not in found and state not in ("Z", "X")}
        found.update({p: table[p][2] for p in children})
        frontier = children
    return found


def watch(driver: int, driver_started: int, session: str, pids: list[int]) -> None:
    """Record the Ray processes while ``driver`` (started at ``driver_started`` clock
    ticks) lives; then stop what is left of them."""
    known = {p: t for p in pids if (t := _started(p)) is not None}
    record = Path(session, RECORD)
    while True:
        before = len(known)
        known.update(_descendants(known))
        if len(known) != before or not record.exists():
            tmp = record.with_suffix(".tmp")
            tmp.write_text(json.dumps({str(p): t for p, t in known.items()}))
            tmp.replace(record)  # readers never see half a file
        if not _alive(driver, driver_started):
            break
        if not any(_alive(p, t) for p, t in known.items()):
            return  # ray.shutdown() in a driver that goes on: nothing left to watch
        time.sleep(POLL_S)
    stop(known)


def stop(known: dict[int, int], grace: float = GRACE_S) -> list[int]:
    """SIGTERM the recorded processes still alive, SIGKILL them after ``grace`` s;
    returns the pids signalled."""
    alive = [p for p, t in known.items() if _alive(p, t)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in alive:
            if _alive(pid, known[pid]):  # checked again just before: no recycled pid
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        deadline = time.time() + grace
        while time.time() < deadline and any(_alive(p, known[p]) for p in alive):
            time.sleep(0.1)
    return alive


def clean(session: str) -> list[int]:
    """Stop the processes recorded for the Ray of ``session`` (its session folder)."""
    record = Path(session, RECORD)
    if not record.is_file():
        raise SystemExit(f"no {RECORD} in {session}: that Ray was not started by imm_ray")
    known = {int(p): int(t) for p, t in json.loads(record.read_text()).items()}
    return stop(known)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("watch", help="(started by start_local_ray) watch a driver")
    w.add_argument("--driver", type=int, required=True)
    w.add_argument("--driver-start", type=int, required=True)
    w.add_argument("--session", required=True)
    w.add_argument("--pids", type=int, nargs="*", default=[])
    c = sub.add_parser("clean", help="stop the processes of the Ray of a session folder")
    c.add_argument("session", help="the Ray session folder, e.g. /tmp/ray/session_<...>")
    args = p.parse_args(argv)
    if args.command == "watch":
        watch(args.driver, args.driver_start, args.session, args.pids)
    else:
        stopped = clean(args.session)
        print(f"stopped {len(stopped)} process(es) of {args.session}: {stopped}")


if __name__ == "__main__":
    main()
