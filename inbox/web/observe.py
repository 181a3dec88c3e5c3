"""Every HTTP request's id, duration and (when SYNPUNKT_ACCESS_LOG is on) access-log line.

The id is the caller's `X-Request-ID` when it is a sane one (a proxy's, say), else a new one; it
is echoed in the response and bound to every log line written while the request is handled. The
duration goes to the histogram of its route template (`/cases/{reference}`), never of the path
itself: a path names a case or carries a check-in's secret, and would make a series per request.
The access-log line says the same (method, route, status, milliseconds, request id), not the path
or the client's address.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inbox.core.logs import bound, event
from inbox.core.metrics import METRICS

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9._:-]{8,128}")
# Paths no route answers: one label for them all.
UNMATCHED = "unmatched"

log = logging.getLogger(__name__)


def request_id(given: str | None) -> str:
    """The caller's id when it is a sane one, else a new one."""
    if given and _SANE.fullmatch(given):
        return given
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The path template of the route that answered (`/api/cases/{reference}`), never the path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class Observe:
    """A plain ASGI middleware, as `SecurityHeaders` is: ids, durations and the access log."""

    def __init__(self, app: ASGIApp, *, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(HEADER)
        rid = request_id(given)
        status = 500  # unless the app starts a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        started = time.perf_counter()
        with bound(request_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                # The traceback is logged further out (by uvicorn), where the id is no longer
                # bound: this line ties the two together.
                log.error("request %s failed: %s", rid, type(exc).__name__)
                raise
            finally:
                self._done(scope, status, time.perf_counter() - started)

    def _done(self, scope: Scope, status: int, seconds: float) -> None:
        route = route_template(scope)
        method = str(scope.get("method", ""))
        METRICS.http_seconds.labels(method, route, str(status)).observe(seconds)
        if self.access_log:
            event(
                "synpunkt.access",
                "http_request",
                method=method,
                route=route,
                status=status,
                ms=round(seconds * 1000, 1),
            )
