"""Running the app under uvicorn: loopback unless told otherwise, and a graceful stop.

On Ctrl-C or SIGTERM uvicorn stops accepting connections and lets the requests in flight
finish (their batches run to the end) before the app's batchers are stopped; a second
Ctrl-C stops at once. Our access log replaces uvicorn's, which knows no batch.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket

import uvicorn
from fastapi import FastAPI

GRACE_SECONDS = 60  # the longest a graceful stop waits for requests in flight

log = logging.getLogger("nmt.serve")


def make_server(app: FastAPI) -> uvicorn.Server:
    """A uvicorn server for `app`, to run on sockets the caller binds (see bind)."""
    config = uvicorn.Config(
        app,
        access_log=False,
        log_config=None,  # the caller's logging setup, not uvicorn's own
        timeout_graceful_shutdown=GRACE_SECONDS,
    )
    return uvicorn.Server(config)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free port, for tests); a host that is
    not a loopback address is served to the network, which is said in the log."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    if not _loopback(host):
        log.warning("listening on %s: anyone who can reach this machine can use the models", host)
    return sock


def serve(app: FastAPI, host: str, port: int) -> None:
    """Serve until Ctrl-C or SIGTERM, then stop gracefully."""
    sock = bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    log.info("serving on http://%s:%d (the page at /, the API at /docs)", shown, bound_port)
    # uvicorn re-raises the stop signal once it has stopped; a SIGINT that a background
    # shell set to ignored would then be lost and Ctrl-C would exit 0 instead of 130
    signal.signal(signal.SIGINT, signal.default_int_handler)
    make_server(app).run(sockets=[sock])


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
