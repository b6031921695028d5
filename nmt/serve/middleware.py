"""Two ASGI layers around the app: the body limit and the access log.

BodyLimit refuses a body larger than any request within the limits could be, before it is
parsed: from its Content-Length at once, and by counting for a chunked body. AccessLog
writes one line per request, with its latency and the batch it rode in (the route puts
the batcher's Ride in the request's state).
"""

from __future__ import annotations

import logging
import time

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("nmt.serve.access")


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
