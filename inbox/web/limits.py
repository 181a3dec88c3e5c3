"""Request bodies over a limit are refused with 413 before they are read, signed in or not.

A plain ASGI middleware in front of every route: a declared `Content-Length` over the limit is
answered at once, without reading a byte of the body; a body of unknown length (chunked) is counted
as the route reads it and stops at the limit. Only the paths declared as uploads get a larger one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inbox.web.api.problems import MEDIA_TYPE, Problem

DEFAULT_LIMIT = 1024 * 1024


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        # The connection is closed after the answer: the rest of the body is never read.
        super().__init__(
            413, detail=f"Request body larger than {limit} bytes", headers={"Connection": "close"}
        )


class BodyLimit:
    """Refuses request bodies over `limit` bytes (over `uploads[path]` on those paths) with 413.

    Unlike Starlette's `BaseHTTPMiddleware` it passes the body through as it arrives, and it never
    reads ahead: the count grows only as fast as the route asks for the body.
    """

    def __init__(
        self, app: ASGIApp, *, limit: int = DEFAULT_LIMIT, uploads: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.uploads = dict(uploads or {})

    def limit_for(self, path: str) -> int:
        return self.uploads.get(path, self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, BodyTooLarge(limit), scope["path"])
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route's read: FastAPI answers it like any HTTPException.
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge as exc:  # read outside a route's exception handling
            if not started:
                await _refuse(send, exc, scope["path"])


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length; the count still applies
    return None


async def _refuse(send: Send, exc: BodyTooLarge, path: str) -> None:
    # Problem details (RFC 9457), as every other refusal (`inbox.web.api.problems`).
    problem = Problem(title="Content Too Large", status=413, detail=exc.detail, instance=path)
    body = json.dumps(problem.model_dump(exclude_none=True)).encode()
    headers = [
        (b"content-type", MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
