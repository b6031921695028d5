"""Running the app under uvicorn: loopback unless told otherwise, and a graceful stop.

On Ctrl-C or SIGTERM uvicorn stops accepting connections and lets the requests in flight
finish (their batches run to the end) before the app's batchers are stopped; a second
Ctrl-C stops at once, the requests in flight answered 503. Our access log replaces
uvicorn's, which knows no batch. A connection that sends no whole request head for
HEAD_SECONDS is closed; one whose body has not all arrived BODY_SECONDS after its head
gets 408 and is closed; connections past MAX_CONNECTIONS get 503 and are closed at once,
so that slow clients cannot hold every file descriptor.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import http
import ipaddress
import json
import logging
import signal
import socket
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from nmt.errors import OptionError, literal

GRACE_SECONDS = 60  # the longest a graceful stop waits for requests in flight
HEAD_SECONDS = 10  # for a request's headers, from a connection's opening or last answer
BODY_SECONDS = 30  # for a request's body, from its head (a 2 MB body over a slow line)
ABANDON_SECONDS = 5  # for requests answered 503 on a second Ctrl-C to end
MAX_CONNECTIONS = 1000  # open at once; each holds a file descriptor

log = logging.getLogger("nmt.serve")


class _Http(H11Protocol):
    """uvicorn's HTTP/1.1 with a deadline for every request head. uvicorn's keep-alive timer
    runs only after an answer and stops at any byte received, so a connection that never
    sends a request, or sends its headers a byte at a time, was held for ever; here the
    timer also runs from the opening, and only a whole request head stops it."""

    def __init__(self, *args: Any, body_seconds: float, max_connections: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.body_seconds, self.max_connections = body_seconds, max_connections
        self.body_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._refuse(503, f"more than {self.max_connections} connections open; try again")
            return
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if self.body_deadline is not None:
            self.body_deadline.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        deadline, self.timeout_keep_alive_task = self.timeout_keep_alive_task, None
        super().data_received(data)
        self._watch_body()
        if deadline is None:
            return
        if self.conn.their_state is h11.IDLE and self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = deadline  # no whole request head yet
        else:
            deadline.cancel()

    def _watch_body(self) -> None:
        """A deadline for the body from the moment the head is whole; cleared with it."""
        receiving = self.conn.their_state is h11.SEND_BODY
        if receiving and self.body_deadline is None:
            self.body_deadline = self.loop.call_later(self.body_seconds, self._body_late)
        elif not receiving and self.body_deadline is not None:
            self.body_deadline.cancel()
            self.body_deadline = None

    def _body_late(self) -> None:
        self.body_deadline = None
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            answered = self.cycle is not None and self.cycle.response_started
            reason = f"the request body did not all arrive within {self.body_seconds:g} s"
            if answered:
                self.transport.close()
            else:
                self._refuse(408, reason)

    def _refuse(self, status: int, reason: str) -> None:
        """Answer `status` with {"error": reason} and close, whatever the app is doing: it
        sees the client gone (uvicorn's connection_lost) and its answer goes nowhere."""
        body = json.dumps({"error": reason}).encode()
        head = (
            f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()


class _Server(uvicorn.Server):
    """uvicorn's server, which on a second Ctrl-C stops at once and cancels the requests
    in flight (each a traceback and a 500); here the app first answers them 503
    (`app.state.abandon`, nmt/serve/app.py) and they end before the loop does."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        if not self.force_exit:
            return
        self.config.app.state.abandon()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ABANDON_SECONDS):
                while self.server_state.tasks:
                    await asyncio.sleep(0.01)
        await self.lifespan.shutdown()  # uvicorn skips it, and the lifespan task dies loudly


def make_server(
    app: FastAPI,
    head_seconds: float = HEAD_SECONDS,
    body_seconds: float = BODY_SECONDS,
    max_connections: int = MAX_CONNECTIONS,
) -> uvicorn.Server:
    """A uvicorn server for `app`, to run on sockets the caller binds (see bind)."""
    config = uvicorn.Config(
        app,
        http=functools.partial(  # type: ignore[arg-type]  # uvicorn calls it as a class
            _Http, body_seconds=body_seconds, max_connections=max_connections
        ),
        access_log=False,
        log_config=None,  # the caller's logging setup, not uvicorn's own
        timeout_graceful_shutdown=GRACE_SECONDS,
        timeout_keep_alive=head_seconds,  # type: ignore[arg-type]  # a float works too
    )
    return _Server(config)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free port, for tests); a host that is
    not a loopback address is served to the network, which is said in the log. A port out
    of range or in use, or a host that is not one of this machine's, is an OptionError naming
    the argument."""
    if not 0 <= port <= 65535:
        raise OptionError("port", "not a port (0 to 65535; 0 picks a free one)", str(port))
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (OSError, UnicodeError) as error:  # gaierror is an OSError
        cause = getattr(error, "strerror", None) or error
        reason = f"not an address or a host name ({cause})"
        raise OptionError("host", literal(reason), host) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            reason = f"in use on {host} by another program; choose another port "
            reason += "(0 picks a free one)"
            raise OptionError("port", literal(reason), str(port)) from None
        reason = f"cannot listen there ({error.strerror})"
        raise OptionError("host", literal(reason), host) from None
    if not _loopback(host):
        log.warning("listening on %s: anyone who can reach this machine can use the models", host)
    return sock


def serve(app: FastAPI, sock: socket.socket) -> None:
    """Serve on `sock` (see bind) until Ctrl-C or SIGTERM, then stop gracefully."""
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
