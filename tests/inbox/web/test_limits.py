"""Request bodies over the limit get 413 before they are read, signed in or not.

The bodies are streamed from generators that count what was taken from them, so a test shows what
the app read, and does not itself hold 150 MB. One test runs the app under uvicorn on loopback.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from inbox.core.db import create_engine, session_factory
from inbox.web.app import create_app
from inbox.web.limits import BodyLimit
from tests.conftest import SECRET_KEY, Clock

MB = 1024 * 1024
CHUNK = 64 * 1024
HANG = 30  # a guard against a server that never answers; no test waits for it


class Body:
    """A streamed request body of `size` bytes that counts how much of it was read."""

    def __init__(self, size: int, fill: bytes = b" ") -> None:
        self.size = size
        self.fill = fill
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = self.fill * CHUNK
        while self.read < self.size:
            part = chunk[: self.size - self.read]
            self.read += len(part)
            yield part


@pytest.fixture
async def app(tmp_path: Path, sqlite_template: Path, clock: Clock) -> AsyncIterator[FastAPI]:
    path = tmp_path / "synpunkt.db"
    shutil.copyfile(sqlite_template, path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    yield create_app(
        secret_key=SECRET_KEY, sessions=session_factory(engine), clock=clock, max_request_bytes=MB
    )
    await engine.dispose()


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_an_unauthenticated_150_mb_json_body_with_its_length_is_refused_unread(
    app: FastAPI,
) -> None:
    body = Body(150 * MB)
    async with client_of(app) as client:
        response = await client.post(
            "/api/cases",
            content=body,
            headers={"Content-Type": "application/json", "Content-Length": str(body.size)},
        )
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    assert response.headers["x-content-type-options"] == "nosniff"  # still our response
    assert body.read == 0


async def test_an_unauthenticated_150_mb_chunked_body_is_read_only_up_to_the_limit(
    app: FastAPI,
) -> None:
    body = Body(150 * MB)  # no Content-Length: httpx sends it chunked
    async with client_of(app) as client:
        response = await client.post(
            "/api/cases", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert body.read <= MB + CHUNK


async def test_a_staff_form_over_the_limit_is_refused_before_sign_in_is_checked(
    app: FastAPI,
) -> None:
    body = Body(2 * MB, fill=b"a")
    async with client_of(app) as client:
        response = await client.post(
            "/signin",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 413
    assert body.read <= MB + CHUNK


async def test_a_body_under_the_limit_reaches_the_route(app: FastAPI) -> None:
    async with client_of(app) as client:
        response = await client.post("/api/cases", content=Body(MB // 2))
    assert response.status_code == 401  # read, and refused for what it is: no token


async def test_a_declared_upload_path_gets_its_larger_limit_and_no_other_path_does() -> None:
    received: dict[str, int] = {}

    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        received[scope["path"]] = size
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    limited = BodyLimit(echo, limit=MB, uploads={"/upload": 4 * MB})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=limited), base_url="http://test"
    ) as client:
        upload = await client.post("/upload", content=Body(3 * MB))
        too_big = await client.post("/upload", content=Body(5 * MB))
        elsewhere = await client.post("/upload/more", content=Body(3 * MB))
    assert (upload.status_code, too_big.status_code, elsewhere.status_code) == (200, 413, 413)
    assert received == {"/upload": 3 * MB}


async def test_under_uvicorn_a_declared_150_mb_body_is_answered_413_before_it_is_sent(
    app: FastAPI,
) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # the connection waits in the backlog until uvicorn accepts it
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        # The headers only: the answer comes before a byte of the body is sent.
        writer.write(
            b"POST /api/cases HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {150 * MB}\r\n\r\n".encode()
        )
        answer = await asyncio.wait_for(reader.read(), HANG)  # to the end: it closes
    finally:
        writer.close()  # first: uvicorn waits for open connections when it shuts down
        server.should_exit = True
        await serving
        sock.close()
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in answer.lower()
