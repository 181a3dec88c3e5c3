"""The log: JSON lines with the request's id, the operator's events, and nothing personal.

Each test configures the root handler as `synpunkt` does at start, writing to a buffer, and puts
pytest's own handlers back afterwards.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inbox.core import logs
from inbox.web.app import create_app
from inbox.web.observe import HEADER
from mail.parse import parse_email
from mail.sender import EmailSender
from tests.conftest import SECRET_KEY, Clock, Database
from tests.factories import make_worker
from tests.mail.smtp_env import INTAKE, client, smtp_server


@pytest.fixture
def log_buffer() -> Iterator[io.StringIO]:
    """The root logger writing JSON at INFO into a buffer, as SYNPUNKT_LOG_FORMAT=json makes it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    logs.configure(level="INFO", log_format="json", stream=buffer)
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    """Every line of the log, each parsed as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


async def test_each_request_has_an_id_in_its_response_and_on_its_log_lines(
    db: Database, clock: Clock, log_buffer: io.StringIO
) -> None:
    app = create_app(secret_key=SECRET_KEY, sessions=db.sessions, clock=clock, access_log=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as browser:
        given = await browser.get("/integritet", headers={HEADER: "proxy-1234:abcd"})
        odd = await browser.get("/integritet", headers={HEADER: "no good\xe4".encode("latin-1")})
        none = await browser.get("/api/cases")
    assert given.headers[HEADER] == "proxy-1234:abcd"
    made = {odd.headers[HEADER], none.headers[HEADER]}
    assert len(made) == 2 and all(len(rid) == 32 for rid in made)
    access = [line for line in lines(log_buffer) if line["event"] == "http_request"]
    assert [(line["request_id"], line["route"], line["status"]) for line in access] == [
        ("proxy-1234:abcd", "/integritet", 200),
        (odd.headers[HEADER], "/integritet", 200),
        (none.headers[HEADER], "/api/cases", 401),
    ]
    assert all(line["logger"] == "synpunkt.access" and line["level"] == "info" for line in access)


def test_standard_logging_comes_out_as_json_with_the_bound_request_id(
    log_buffer: io.StringIO,
) -> None:
    with logs.bound(request_id="req-0000001"):
        logging.getLogger("inbox.somewhere").warning("a %s line", "plain")
    logging.getLogger("inbox.elsewhere").info("after the request")
    first, second = lines(log_buffer)
    assert first["event"] == "a plain line" and first["level"] == "warning"
    assert first["request_id"] == "req-0000001" and first["logger"] == "inbox.somewhere"
    assert "request_id" not in second


def test_the_text_format_is_a_line_with_the_fields() -> None:
    record = logging.LogRecord("inbox.x", logging.INFO, __file__, 1, "a %s", ("line",), None)
    text = logs.formatter("text").format(record)
    assert text.endswith(" INFO inbox.x: a line")
    with pytest.raises(ValueError, match="SYNPUNKT_LOG_FORMAT"):
        logs.formatter("xml")


async def test_a_processed_mail_logs_its_ids_and_never_its_sender_or_text(
    db: Database, clock: Clock, tmp_path: Path, log_buffer: io.StringIO
) -> None:
    sender = "karin.privat-7781@example.org"
    body = "Min dotter Elsa har inte fått sin medicin sedan i tisdags."
    subject = "Klagomål om hemtjänsten på Lindgatan"
    raw = (
        f"From: Karin Andersson <{sender}>\r\nTo: {INTAKE}\r\nSubject: {subject}\r\n"
        "Date: Tue, 10 Mar 2026 09:00:00 +0100\r\nMessage-ID: <logs-1@example.org>\r\n"
        f"\r\n{body}\r\n"
    ).encode()
    worker = make_worker(
        db.sessions,
        clock,
        parsers={"email": parse_email},
        senders={
            "email": EmailSender(
                mail_from="Socialtjänsten <synpunkt@synpunkt.example>",
                transport=f"file://{tmp_path / 'outbox'}",
                clock=clock,
            )
        },
    )
    async with smtp_server(db.sessions, clock) as port, client(port) as smtp:
        await smtp.sendmail(sender, [INTAKE], raw)
    await worker.drain()

    logged = lines(log_buffer)
    events = {line["event"]: line for line in logged}
    assert events["message_received"]["channel"] == "email"
    assert isinstance(events["message_received"]["intake_id"], int)
    assert events["case_opened"]["reference"].startswith("SP-")
    assert isinstance(events["case_opened"]["case_id"], int)
    assert events["outbox_result"]["kind"] == "case.ack"
    assert events["outbox_result"]["result"] == "sent"
    text = log_buffer.getvalue()
    for secret in (sender, "Karin", "Elsa", "medicin", "Lindgatan", "hemtjänsten"):
        assert secret not in text


async def test_a_request_that_fails_logs_its_id_and_counts_as_500(
    db: Database, clock: Clock, log_buffer: io.StringIO
) -> None:
    app = create_app(secret_key=SECRET_KEY, sessions=db.sessions, clock=clock, access_log=True)

    @app.get("/test-only/broken/{part}")
    async def broken(part: str) -> None:
        raise RuntimeError(f"a bug about {part}")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as browser:
        response = await browser.get("/test-only/broken/x", headers={HEADER: "failing-request-1"})
    assert response.status_code == 500
    logged = lines(log_buffer)
    failed = [
        line for line in logged if line["event"] == "request failing-request-1 failed: RuntimeError"
    ]
    assert len(failed) == 1 and failed[0]["request_id"] == "failing-request-1"
    access = [line for line in logged if line["event"] == "http_request"]
    assert [(a["route"], a["status"]) for a in access] == [("/test-only/broken/{part}", 500)]
