"""Start Ray for a sweep: a local Ray that listens on loopback only, or join ``--address``.

- Local (no ``--address``): :func:`start_local_ray` binds every Ray server to 127.0.0.1
  (no dashboard), and starts the watcher of :mod:`imm_ray.sweep.reaper`, so the local Ray
  goes away with the driver even when the driver is SIGKILLed.
- Joining: :func:`probe_address` first checks, within seconds, that something speaking
  gRPC (a Ray GCS) listens at the address *given*; Ray itself would retry for minutes
  and print its own rewrite of the address. A loopback address keeps 127.0.0.1.
- Quiet by default (:func:`quiet_init_kwargs`): Ray's driver-side INFO/WARNING lines
  (the local token-authentication notice, "Started a local Ray instance") and the trials'
  stdout/stderr stay in Ray's log files; ``--verbose`` restores both.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys

LOOPBACK = "127.0.0.1"  # the only address a local imm_ray Ray listens on or talks to
PROBE_TIMEOUT_S = 5.0


class RayStartError(RuntimeError):
    """Ray could not be started or joined; the message names the address."""


def init_ray(args: argparse.Namespace, **kwargs) -> None:
    """Join ``--address`` / ``RAY_ADDRESS`` if given, else start Ray on this machine.

    ``kwargs`` go to ``ray.init`` and win over the quiet defaults. When nothing answers
    at the address, prints ``error: --address ...`` and exits 2 within seconds.
    """
    import ray

    if ray.is_initialized():
        return
    for key, value in quiet_init_kwargs(getattr(args, "verbose", False)).items():
        kwargs.setdefault(key, value)
    address = getattr(args, "address", None)
    if address and address != "auto":
        host = address.removeprefix("ray://").rpartition(":")[0].strip("[]")
        if _is_loopback(host):
            local_ray_on_loopback()  # else Ray rewrites 127.0.0.1 to the outward IP
        try:
            probe_address(address)
        except RayStartError as e:  # a sweep's setting: end like an argparse error
            print(f"error: {e}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None
    if address:
        ray.init(address=address, **kwargs)
    else:
        start_local_ray(**kwargs)


def quiet_init_kwargs(verbose: bool) -> dict:
    """``ray.init`` settings of the quiet console (none with ``--verbose``)."""
    return {} if verbose else {"logging_level": "ERROR", "log_to_driver": False}


def start_local_ray(**kwargs) -> None:
    """``ray.init(**kwargs)`` of a Ray on this machine that listens on loopback only (no
    dashboard unless asked for), watched by :mod:`imm_ray.sweep.reaper`."""
    import ray

    from imm_ray.sweep.reaper import start_reaper

    local_ray_on_loopback()
    kwargs.setdefault("include_dashboard", False)
    kwargs.setdefault("_node_ip_address", LOOPBACK)
    ray.init(**kwargs)
    start_reaper()


def local_ray_on_loopback() -> None:
    """Make a Ray started (or joined) by this process use 127.0.0.1 only.

    Ray treats a node IP of 127.0.0.1 as "find the outward address" (it opens a socket
    towards a public IP to learn it) and then binds its servers to 0.0.0.0, unless
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, its switch for single-machine Ray. Ray's
    processes inherit the variable; this process read it when ``ray`` was imported, so its
    constant is set too.
    """
    from ray._private import ray_constants

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def probe_address(address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Fail within ``timeout`` s unless a gRPC server (a Ray GCS or Ray Client server)
    listens at ``address`` (``host:port`` or ``ray://host:port``).

    gRPC is HTTP/2: after the client's connection preface a server answers with a
    SETTINGS frame (RFC 9113, section 3.4), which is what is checked here.
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        conn = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    except OSError as e:
        reason = "nothing answered" if isinstance(e, TimeoutError) else (e.strerror or e)
        raise RayStartError(f"--address {address}: cannot connect ({reason}); is a Ray head "
                            "running there? (`ray start --head` prints its address)") from None
    with conn:
        if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
            return  # a TLS cluster does not answer plain HTTP/2; the TCP check must do
        try:
            conn.sendall(_HTTP2_PREFACE)
            head = conn.recv(9)
        except OSError:
            head = b""
    if len(head) < 9 or head[3] != _SETTINGS_FRAME:
        raise RayStartError(f"--address {address}: something listens there but does not answer "
                            f"as a Ray cluster (no gRPC/HTTP2 reply within {timeout:g} s)")


_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes(3) + b"\x04" + bytes(5)
"""The HTTP/2 client connection preface followed by an empty SETTINGS frame."""
_SETTINGS_FRAME = 0x04
