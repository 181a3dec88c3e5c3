"""The JSON API: tokens, the case list with filters and keyset pagination, one case, downloads."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from inbox.core.db import unit_of_work
from inbox.core.inbound import InboundAttachment
from inbox.core.models import ApiToken, AuditEvent, Contact, OutboxItem
from inbox.staff.tokens import create_token
from inbox.web.app import create_app
from tests.conftest import SECRET_KEY, Clock, Database
from tests.factories import mail, take


@pytest.fixture
async def api(db: Database, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    async with unit_of_work(db.sessions) as session:
        _row, token = await create_token(session, name="test", now=clock(), all_units=True)
    app = create_app(secret_key=SECRET_KEY, sessions=db.sessions, clock=clock)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=headers
    ) as client:
        yield client


async def test_requests_without_a_valid_token_are_refused(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/cases", headers={"Authorization": ""})).status_code == 401
    wrong = await api.get("/api/cases", headers={"Authorization": "Bearer spk_wrong"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"


async def test_list_reads_while_a_writer_holds_the_lock_and_still_records_the_token_use(
    api: httpx.AsyncClient, db: Database, clock: Clock
) -> None:
    await take(db, mail(1), clock)
    assert (await api.get("/api/cases")).status_code == 200  # records the token's first use
    async with db.sessions() as session:
        used = (await session.execute(select(ApiToken.last_used_at))).scalar_one()
    assert used == clock()
    # On SQLite this session's BEGIN IMMEDIATE takes the write lock until the block ends; the
    # list and the counts begin deferred and read beside it (with BEGIN IMMEDIATE they would
    # wait out the busy timeout and fail).
    async with unit_of_work(db.sessions) as writer:
        await writer.execute(select(1))
        listing = await api.get("/api/cases")
        counts = await api.get("/api/counts")
    assert listing.status_code == 200 and len(listing.json()["items"]) == 1
    assert counts.status_code == 200 and counts.json()["new"] == 1
    clock.advance(minutes=2)
    assert (await api.get("/api/cases")).status_code == 200
    async with db.sessions() as session:
        used = (await session.execute(select(ApiToken.last_used_at))).scalar_one()
    assert used == clock()


async def test_healthz_reports_database_and_queues(
    api: httpx.AsyncClient, db: Database, clock: Clock
) -> None:
    await take(db, mail(1), clock)
    body = (await api.get("/healthz")).json()
    assert body["status"] == "ok" and body["outbox"] == {"pending": 1}


async def test_list_pages_through_every_case_once_newest_first(
    api: httpx.AsyncClient, db: Database, clock: Clock
) -> None:
    for n in range(1, 8):
        clock.advance(minutes=1)
        await take(db, mail(n, sender=f"p{n}@example.se"), clock)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/api/cases", params=params)).json()
        seen += [item["reference"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"SP-2026-{n:04d}" for n in range(7, 0, -1)]


async def test_list_filters_and_masks_personnummer(
    api: httpx.AsyncClient, db: Database, clock: Clock
) -> None:
    await take(db, mail(1, subject="Om 811218-9876", text="pnr 811218-9876"), clock)
    await take(db, mail(2, sender="b@example.se", subject="Beröm", text="Tack för hjälpen"), clock)
    found = (await api.get("/api/cases", params={"q": "hjälpen"})).json()["items"]
    assert [i["subject"] for i in found] == ["Beröm"]
    masked = (await api.get("/api/cases", params={"q": "pnr"})).json()["items"][0]
    assert "9876" not in masked["subject"] + masked["preview"] and "personnummer" in masked["flags"]
    assert (await api.get("/api/cases", params={"status": "closed"})).json()["items"] == []
    assert (await api.get("/api/cases", params={"cursor": "!!"})).status_code == 400
    assert (await api.get("/api/cases", params={"limit": 500})).status_code == 422


async def test_case_shows_thread_attachments_and_delivery_and_is_audited(
    api: httpx.AsyncClient, db: Database, clock: Clock
) -> None:
    part = InboundAttachment(
        filename="<script>.html", content_type="text/html", data=b"<script>alert(1)</script>"
    )
    receipt = await take(db, mail(1, attachments=(part,), raw=b"From: a\r\n\r\nhej"), clock)
    case = (await api.get(f"/api/cases/{receipt.reference}")).json()
    inbound, ack = case["messages"]
    assert (inbound["direction"], ack["direction"], ack["delivery"]) == (
        "inbound",
        "outbound",
        "queued",
    )
    assert case["outbox"][0]["status"] == "pending" and "raw" not in inbound
    download = await api.get(inbound["attachments"][0]["url"])
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["content-type"] == "text/html"  # as received, yet a download
    assert download.headers["x-content-type-options"] == "nosniff"
    original = await api.get(inbound["original_url"])
    assert (
        original.content == b"From: a\r\n\r\nhej"
        and "attachment" in original.headers["content-disposition"]
    )
    assert (await api.get("/api/cases/SP-2026-9999")).status_code == 404
    async with db.sessions() as session:
        actions = (await session.execute(select(AuditEvent.action))).scalars().all()
    assert {"case.created", "case.read", "attachment.read", "message.original.read"} <= set(actions)


async def test_reply_is_queued_in_the_thread_and_shown_on_the_case(
    api: httpx.AsyncClient, db: Database, clock: Clock
) -> None:
    await take(db, mail(1), clock)
    clock.advance(hours=2)
    created = await api.post(
        "/api/cases/SP-2026-0001/replies", json={"text": "  Tack, vi ringer.  "}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["direction"] == "outbound" and body["kind"] == "case.reply"
    assert body["text"] == "Tack, vi ringer." and body["delivery"] == "queued"
    async with db.sessions() as session:
        item = (
            await session.execute(select(OutboxItem).where(OutboxItem.kind == "case.reply"))
        ).scalar_one()
        events = (await session.execute(select(AuditEvent.action))).scalars().all()
    assert item.recipient == "anna@example.se" and item.channel == "email"
    assert item.payload["in_reply_to"] == "<m1@example.se>"
    assert item.payload["subject"].startswith("[SP-2026-0001]")
    assert "case.reply" in events
    case = (await api.get("/api/cases/SP-2026-0001")).json()
    assert case["status"] == "open" and case["first_response_at"] is not None
    assert [m["kind"] for m in case["messages"]] == [None, "case.ack", "case.reply"]


async def test_reply_refuses_empty_text_unknown_case_and_unreachable_contact(
    api: httpx.AsyncClient, db: Database, clock: Clock
) -> None:
    await take(db, mail(1), clock)
    assert (await api.post("/api/cases/SP-2026-0001/replies", json={"text": ""})).status_code == 422
    blank = await api.post("/api/cases/SP-2026-0001/replies", json={"text": " \n "})
    assert blank.status_code == 409 and "empty" in blank.json()["detail"]
    missing = await api.post("/api/cases/SP-2026-9999/replies", json={"text": "Hej"})
    assert missing.status_code == 404
    async with unit_of_work(db.sessions) as session:
        contact = (await session.execute(select(Contact))).scalar_one()
        contact.unreachable_at = clock()
        contact.unreachable_reason = "bot blocked"
    refused = await api.post("/api/cases/SP-2026-0001/replies", json={"text": "Hej"})
    assert refused.status_code == 409 and "bot blocked" in refused.json()["detail"]
