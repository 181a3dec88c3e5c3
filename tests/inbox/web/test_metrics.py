"""`/metrics`: off unless allowed, a token or networks when on, and counts that follow the mail.

A mail goes over SMTP to the real edge and through the worker; `/metrics` counts it received,
its case opened and its acknowledgement sent, and shows the backlog it makes and clears. The
counters belong to the process, which many tests share: each test reads them before and after.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import socket
import sys
from pathlib import Path

import aiosmtplib
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from inbox.core.db import create_engine, session_factory
from inbox.core.inbound import InboundMessage
from inbox.core.metrics import METRICS, MetricsAccess
from inbox.settings import Settings
from inbox.staff.signin import Throttle
from inbox.web.app import create_app
from inbox.web.metrics import metrics_app
from mail.parse import parse_email
from mail.sender import EmailSender
from tests.conftest import SECRET_KEY, Clock, Database
from tests.factories import cli_env, eventually, make_worker, synpunkt
from tests.inbox.checkins.checkin_env import Env, at
from tests.inbox.checkins.checkin_env import env as env
from tests.inbox.web.conftest import World, build_world, sign_in
from tests.mail.smtp_env import INTAKE, SENDER, client, mail, smtp_server

TOKEN = "metrics-token-for-tests-0123456789"


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample `name` with these labels in an exposition, or None."""
    for family in text_string_to_metric_families(text):
        for one in family.samples:
            if one.name == name and all(one.labels.get(k) == v for k, v in labels.items()):
                return float(one.value)
    return None


def app_for(db: Database, clock: Clock, rules: MetricsAccess | None) -> FastAPI:
    return create_app(secret_key=SECRET_KEY, sessions=db.sessions, clock=clock, metrics=rules)


async def scrape(app: FastAPI, *, peer: str = "127.0.0.1", token: str | None = TOKEN) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as scraper:
        response = await scraper.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return response.text


async def test_a_mail_over_smtp_is_counted_received_opened_and_acknowledged(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    app = app_for(db, clock, MetricsAccess(token=TOKEN))
    before = await scrape(app)
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
        await smtp.sendmail(SENDER, [INTAKE], mail(f"metrics-{db.backend}@example.org"))
    clock.advance(minutes=5)

    waiting = await scrape(app)
    received = "synpunkt_messages_received_total"
    assert (
        sample(waiting, received, channel="email")
        == (sample(before, received, channel="email") or 0) + 1
    )
    assert sample(waiting, "synpunkt_intake_pending") == 1
    assert sample(waiting, "synpunkt_intake_oldest_pending_seconds") == 300
    assert sample(waiting, "synpunkt_database_up") == 1

    await worker.drain()
    done = await scrape(app)
    opened = "synpunkt_cases_opened_total"
    labels = {"channel": "email", "origin": "channel", "kind": "other"}
    assert sample(done, opened, **labels) == (sample(before, opened, **labels) or 0) + 1
    sent = "synpunkt_outbox_results_total"
    ack = {"kind": "case.ack", "result": "sent"}
    assert sample(done, sent, **ack) == (sample(before, sent, **ack) or 0) + 1
    assert sample(done, "synpunkt_intake_pending") == 0
    assert sample(done, "synpunkt_outbox_pending") == 0
    assert sample(done, "synpunkt_outbox_oldest_due_seconds") == 0
    batches = "synpunkt_worker_batch_seconds_count"
    assert (
        sample(done, batches, runner="intake")
        == (sample(before, batches, runner="intake") or 0) + 1
    )


async def test_a_check_in_answered_on_the_web_page_is_counted(env: Env) -> None:
    await env.register()
    await env.run_until(at(2026, 3, 17, 8, 0))
    link = re.search(r"https://[^/\s]+(/checkin/(?!stopp)\S+)", env.mails()[-1].get_content())
    assert link is not None

    before = value("synpunkt_checkin_answers_total", via="web")
    assert (await env.web.post(link.group(1), data={"rating": "4"})).status_code == 200
    assert value("synpunkt_checkin_answers_total", via="web") == before + 1
    assert (await env.web.post(link.group(1), data={"rating": "4"})).status_code == 410
    # Nothing new: not counted again.
    assert value("synpunkt_checkin_answers_total", via="web") == before + 1


def value(name: str, **labels: str) -> float:
    """A sample of this process's registry (0 before its first count)."""
    return METRICS.registry.get_sample_value(name, labels) or 0.0


async def test_a_message_that_cannot_be_parsed_is_counted_failed(
    db: Database, clock: Clock
) -> None:
    def unparsable(raw: bytes) -> InboundMessage:
        raise ValueError("not a message")

    worker = make_worker(db.sessions, clock, parsers={"email": unparsable})
    before = value("synpunkt_intake_failed_total", channel="email")
    async with smtp_server(db.sessions, clock) as port, client(port) as smtp:
        await smtp.sendmail(SENDER, [INTAKE], mail(f"broken-{db.backend}@example.org"))
    await worker.drain()
    assert value("synpunkt_intake_failed_total", channel="email") == before + 1


async def test_wrong_and_throttled_sign_ins_are_counted(db: Database, clock: Clock) -> None:
    world = await build_world(db, clock, throttle=Throttle(per_address_user=2))
    wrong = value("synpunkt_signin_failures_total", reason="wrong")
    throttled = value("synpunkt_signin_failures_total", reason="throttled")
    transport = httpx.ASGITransport(app=world.app, client=("10.0.0.8", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as browser:
        for _ in range(3):
            await sign_in(browser, "ada", "fel-lösenord-000")
    assert value("synpunkt_signin_failures_total", reason="wrong") == wrong + 2
    assert value("synpunkt_signin_failures_total", reason="throttled") == throttled + 1


async def test_metrics_are_off_by_default(db: Database, clock: Clock) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_for(db, clock, None)), base_url="http://test"
    ) as anyone:
        response = await anyone.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("rules", "peer", "token", "status"),
    [
        (MetricsAccess(token=TOKEN), "127.0.0.1", None, 401),
        (MetricsAccess(token=TOKEN), "127.0.0.1", "not-the-token-but-long-enough", 401),
        (MetricsAccess(token=TOKEN), "127.0.0.1", TOKEN, 200),
        (MetricsAccess.of(None, ["10.1.0.0/16"]), "10.1.2.3", None, 200),
        (MetricsAccess.of(None, ["10.1.0.0/16"]), "10.2.0.1", None, 403),
        (MetricsAccess.of(None, ["10.1.0.0/16"]), "10.2.0.1", TOKEN, 403),
        (MetricsAccess.of(TOKEN, ["10.1.0.0/16", "fd00::/8"]), "fd00::5", None, 200),
        (MetricsAccess.of(TOKEN, ["10.1.0.0/16"]), "192.0.2.7", None, 401),
        (MetricsAccess.of(TOKEN, ["10.1.0.0/16"]), "192.0.2.7", TOKEN, 200),
    ],
)
async def test_a_token_or_the_networks_let_a_scraper_in(
    db: Database, clock: Clock, rules: MetricsAccess, peer: str, token: str | None, status: int
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for app in (app_for(db, clock, rules), metrics_app(rules, db.sessions, clock)):
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as scraper:
            response = await scraper.get("/metrics", headers=headers)
        assert response.status_code == status, (type(app).__name__, response.text)
        if status == 401:
            assert response.headers["www-authenticate"] == "Bearer"
        if status == 200:
            assert "synpunkt_messages_received_total" in response.text


async def test_request_durations_are_labelled_by_route_template_never_by_path(
    db: Database, clock: Clock
) -> None:
    world: World = await build_world(db, clock, metrics=MetricsAccess(token=TOKEN))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app), base_url="http://test"
    ) as anyone:
        assert (await anyone.get(f"/api/cases/{world.barn}")).status_code == 401
        assert (await anyone.get("/checkin/a-secret-token-of-a-citizen")).status_code < 500
        assert (await anyone.get("/no/such/page/at/all")).status_code == 404
    text = await scrape(world.app)
    count = "synpunkt_http_request_duration_seconds_count"
    assert sample(text, count, method="GET", route="/api/cases/{reference}", status="401")
    assert sample(text, count, method="GET", route="/checkin/{token}")
    assert sample(text, count, method="GET", route="unmatched", status="404")
    routes = {
        one.labels["route"]
        for family in text_string_to_metric_families(text)
        for one in family.samples
        if "route" in one.labels
    }
    assert not [r for r in routes if world.barn in r or "secret" in r or "/no/such" in r]


def test_the_metrics_settings_are_checked_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNPUNKT_METRICS_NETWORKS", "10.0.0.0/8, 192.0.2.1")
    monkeypatch.setenv("SYNPUNKT_METRICS_TOKEN", TOKEN)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    rules = MetricsAccess.of(settings.metrics_token, settings.metrics_networks)
    assert rules.networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.0.2.1/32"),
    )
    for name, value in (
        ("SYNPUNKT_METRICS_NETWORKS", "10.0.0.0/8,intranet"),
        ("SYNPUNKT_METRICS_TOKEN", "short"),
        ("SYNPUNKT_METRICS_LISTEN", "0.0.0.0:99999"),
    ):
        with monkeypatch.context() as patch:
            patch.setenv(name, value)
            with pytest.raises(ValueError, match=name.removeprefix("SYNPUNKT_").lower()):
                Settings(_env_file=None)  # type: ignore[call-arg]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_synpunkt_smtp_alone_serves_its_own_counts_on_metrics_listen(
    tmp_path: Path,
) -> None:
    assert synpunkt(tmp_path, "db", "upgrade").returncode == 0
    smtp_port, metrics_port = _free_port(), _free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inbox.cli",
        "smtp",
        env=cli_env(
            tmp_path,
            SYNPUNKT_SMTP_LISTEN=f"127.0.0.1:{smtp_port}",
            SYNPUNKT_INTAKE_ADDRESSES=INTAKE,
            SYNPUNKT_METRICS_LISTEN=f"127.0.0.1:{metrics_port}",
            SYNPUNKT_METRICS_TOKEN=TOKEN,
            SYNPUNKT_LOG_FORMAT="json",
        ),
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{metrics_port}") as scraper:

            async def answers() -> bool:
                assert server.returncode is None, "synpunkt smtp stopped"
                try:
                    return (await scraper.get("/metrics", headers=headers)).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(answers, "synpunkt smtp serves /metrics", seconds=60)
            assert (await scraper.get("/metrics")).status_code == 401
            await aiosmtplib.send(
                mail("alone@example.org"),
                hostname="127.0.0.1",
                port=smtp_port,
                sender=SENDER,
                recipients=[INTAKE],
                start_tls=False,
            )
            text = (await scraper.get("/metrics", headers=headers)).text
        assert sample(text, "synpunkt_messages_received_total", channel="email") == 1
        assert sample(text, "synpunkt_intake_pending") == 1
    finally:
        if server.returncode is None:
            server.terminate()
        _, stderr = await asyncio.wait_for(server.communicate(), timeout=60)
    assert server.returncode == 0, stderr
    logged = [json.loads(line) for line in stderr.decode().splitlines()]
    assert [line["event"] for line in logged].count("message_received") == 1


async def test_without_the_database_the_counters_are_still_served(
    tmp_path: Path, clock: Clock
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/no/such/folder/x.db")
    try:
        app = metrics_app(MetricsAccess(token=TOKEN), session_factory(engine), clock)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as scraper:
            response = await scraper.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        await engine.dispose()
    assert response.status_code == 200
    assert sample(response.text, "synpunkt_database_up") == 0
    assert sample(response.text, "synpunkt_intake_pending") is None
    assert "synpunkt_messages_received_total" in response.text
