"""`/metrics`: off unless allowed, a token or networks when on, and counts that follow the mail.

A mail goes over SMTP to the real edge and through the worker; `/metrics` counts it received,
its case opened and its acknowledgement sent, and shows the backlog it makes and clears. The
counters belong to the process, which many tests share: each test reads them before and after.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from inbox.core.metrics import MetricsAccess
from inbox.settings import Settings
from inbox.web.app import create_app
from inbox.web.metrics import metrics_app
from mail.parse import parse_email
from mail.sender import EmailSender
from tests.conftest import SECRET_KEY, Clock, Database
from tests.factories import make_worker
from tests.inbox.web.conftest import World, build_world
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
    labels = {"channel": "email", "origin": "channel"}
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
