"""Three ASGI layers around the app: the host check, the body limit and the access log.

HostCheck refuses a request that names the server by a host name it was not told it has.
BodyLimit refuses a body larger than any request within the limits could be, before it is
parsed: from its Content-Length at once, and by counting for a chunked body. AccessLog
writes one line per request, with its latency and the batch it rode in (the route puts
the batcher's Ride in the request's state).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Collection
from urllib.parse import urlsplit

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("nmt.serve.access")


class HostCheck:
    """Answers 400 to a request whose Host header is a name not in `names` (`*`: any name),
    naming create_app's `hosts` as `spell` does. With DNS rebinding, a page on another site
    reaches a server on this machine under that site's own name; a browser sends an IP
    address or localhost only when the user typed it, so those always pass."""

    def __init__(
        self, app: ASGIApp, names: Collection[str], spell: Callable[[str], str] = str
    ) -> None:
        self.app, self.names = app, {name.lower().rstrip(".") for name in names}
        self.spell = spell

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "*" not in self.names:
            header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            name = _host_name(header)
            if not (name in self.names or name == "localhost" or _address(name) or not header):
                reason = (
                    f"Host {header[:100]!r}: not a name of this server; start it with "
                    f"{self.spell('hosts')} {name[:100]} to answer to it"
                )
                await JSONResponse({"error": reason}, 400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _host_name(header: str) -> str:
    """The host of a Host header, without its port and final dot: 'Localhost.:8000' ->
    'localhost', '[::1]:8000' -> '::1'."""
    try:
        return (urlsplit(f"//{header}").hostname or "").rstrip(".")
    except ValueError:  # a '[' without its ']'
        return header


def _address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and int(declared) > self.max_bytes:
            await JSONResponse({"error": self._reason()}, 413)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, self._reason())
            return message

        await self.app(scope, counted, send)

    def _reason(self) -> str:
        return f"request body over {self.max_bytes} bytes, more than any request within the limits"


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # if the app fails before it answers

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            milliseconds = (time.perf_counter() - start) * 1000
            client = scope.get("client")
            who = f"{client[0]}:{client[1]}" if client else "-"
            ride = scope.get("state", {}).get("ride")
            batch = "-" if ride is None else f"{ride.requests} requests/{ride.items} items"
            access_log.info(
                '%s "%s %s" %d %.1f ms batch %s',
                who,
                scope["method"],
                scope["path"],
                status,
                milliseconds,
                batch,
            )
