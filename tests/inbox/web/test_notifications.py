"""Staff are told about work (issue 18, item 11), end to end: the event where it happens (intake
opening a case or storing a reply, `update_case` assigning one), the notifier turning it into an
outbox row for whoever asked, and the outbox runner's mail sender handing it to an SMTP relay on
loopback. The mail names the case and its unit and links to it, and says nothing of what the
person wrote, nor who they are. Settings off, nothing; run again, nothing more; the digest once a
day. And who else has a case open, on the case page, until it expires."""

from __future__ import annotations

from datetime import date, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

from sqlalchemy import select

from inbox.cases.notifications import (
    NotifyPolicy,
    record_opened,
    save_settings,
)
from inbox.cases.triage import update_case
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.inbound import Automation
from inbox.core.models import Case, NotificationEvent, OutboxItem, StaffUser
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.notifier import Notifier
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.worker import Worker
from mail.parse import parse_email
from tests.conftest import Clock
from tests.factories import POLICY as INTAKE
from tests.factories import mail, take
from tests.inbox.web.conftest import SignIn, World, _case, csrf_of
from tests.mail.test_sender import Relay, relay_on_loopback, smtp_sender

POLICY = NotifyPolicy(
    base_url="https://inkorg.exempelby.example", mail_domain="exempelby.example", digest_hour=7
)
SECRET_SUBJECT = "Min sons placering"
SECRET_TEXT = "Jag heter Lisa Berg och bor på Storgatan 5."


async def _settings(world: World, username: str, email: str | None, *kinds: str) -> None:
    async with unit_of_work(world.db.sessions) as session:
        user = (
            await session.execute(select(StaffUser).where(StaffUser.username == username))
        ).scalar_one()
        await save_settings(session, user=user, email=email, chosen=kinds)


async def _notify(world: World) -> int:
    """One round of the worker's notifier (a fresh one: as after a restart)."""
    return await Notifier(world.db.sessions, policy=POLICY, clock=world.clock).run_once()


async def _rows(world: World) -> list[OutboxItem]:
    async with world.db.sessions() as session:
        found = await session.execute(
            select(OutboxItem).where(OutboxItem.kind == "staff.notify").order_by(OutboxItem.id)  # type: ignore[arg-type]
        )
        return list(found.scalars())


async def _send_all(world: World, clock: Clock) -> list[EmailMessage]:
    """The outbox runner sends what is due through the SMTP sender to a relay on loopback; what
    reached staff."""
    relay = Relay()
    async with relay_on_loopback(relay) as port:
        runner = OutboxRunner(
            world.db.sessions, senders={"email": smtp_sender(port, clock)}, clock=clock
        )
        while await runner.run_once():
            await runner.wait()
        await runner.wait()
    sent = []
    for envelope in relay.received:
        assert isinstance(envelope.content, bytes)
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        assert [msg["To"]] == envelope.rcpt_tos
        if msg["To"].endswith("@exempelby.example"):  # the acknowledgements to senders aside
            sent.append(msg)
    return sent


async def _ready(world: World) -> None:
    """The world's own cases are told of to nobody (no one has an address yet) and done."""
    await _notify(world)
    assert await _rows(world) == []


def _body(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _no_secrets(msg: EmailMessage) -> None:
    whole = msg.as_string() + _body(msg)
    for secret in (SECRET_SUBJECT, "Lisa", "Storgatan", "person", "Anna"):
        assert secret not in whole, secret


async def _new_case(world: World, n: int, unit: str | None) -> str:
    return await _case(world.db, world.clock, n, unit, subject=SECRET_SUBJECT, text=SECRET_TEXT)


async def test_a_new_case_in_their_units_is_mailed_to_who_asked_and_says_nothing_of_it(
    world: World, clock: Clock, as_user: SignIn
) -> None:
    await _ready(world)
    # Karin (barn och familj) asks on her settings page; Olle (vuxen) too, for his units.
    karin = await as_user("karin")
    form = await karin.get("/installningar")
    assert form.status_code == 200
    saved = await karin.post(
        "/installningar",
        data={
            "email": "karin@exempelby.example",
            "notify": ["new_case", "assigned"],
            "csrf_token": csrf_of(form.text),
        },
    )
    assert saved.status_code == 303
    page = (await karin.get("/installningar")).text
    assert 'value="karin@exempelby.example"' in page
    assert 'id="n-new_case" name="notify" value="new_case" checked' in page
    assert 'id="n-reply" name="notify" value="reply">' in page  # unchecked now
    await _settings(world, "olle", "olle@exempelby.example", "new_case")
    await _settings(world, "vera", "vera@exempelby.example")  # an address, but nothing chosen

    reference = await _new_case(world, 10, "barn-och-familj")
    assert await _notify(world) == 1
    [row] = await _rows(world)
    assert row.recipient == "karin@exempelby.example"
    assert row.payload["subject"] == f"Nytt ärende {reference} i Barn och familj"

    [sent] = await _send_all(world, clock)
    assert sent["To"] == "karin@exempelby.example"
    assert sent["Subject"] == f"Nytt ärende {reference} i Barn och familj"
    assert sent["Auto-Submitted"] == "auto-generated"
    body = _body(sent)
    assert f"Ett nytt ärende har kommit in: {reference} i Barn och familj." in body
    assert f"https://inkorg.exempelby.example/cases/{reference}" in body
    _no_secrets(sent)

    # Run again, or the same event recorded twice: nobody is told twice.
    assert await _notify(world) == 0
    async with unit_of_work(world.db.sessions) as session:
        case = (await session.execute(select(Case).where(Case.reference == reference))).scalar_one()
        assert case.id is not None
        await record_opened(session, [case.id], now=clock())
    assert await _notify(world) == 1
    assert len(await _rows(world)) == 1
    assert await _send_all(world, clock) == []


async def test_the_worker_tells_and_sends_in_one_round(world: World, clock: Clock) -> None:
    await _ready(world)
    await _settings(world, "karin", "karin@exempelby.example", "new_case")
    reference = await _new_case(world, 31, "barn-och-familj")
    relay = Relay()
    async with relay_on_loopback(relay) as port:
        worker = Worker(
            IntakeRunner(
                world.db.sessions, parsers={"email": parse_email}, policy=INTAKE, clock=clock
            ),
            OutboxRunner(
                world.db.sessions, senders={"email": smtp_sender(port, clock)}, clock=clock
            ),
            notifier=Notifier(world.db.sessions, policy=POLICY, clock=clock),
        )
        await worker.drain()
    [told] = [e for e in relay.received if e.rcpt_tos == ["karin@exempelby.example"]]
    assert isinstance(told.content, bytes)
    sent = message_from_bytes(told.content, policy=policy.default)
    assert sent["Subject"] == f"Nytt ärende {reference} i Barn och familj"


async def test_events_told_of_are_pruned_after_a_week(world: World, clock: Clock) -> None:
    await _ready(world)
    await _new_case(world, 30, "vuxen")
    await _notify(world)

    async def events() -> int:
        async with world.db.sessions() as session:
            return len((await session.execute(select(NotificationEvent))).scalars().all())

    assert await events() == 4  # the world's three cases and this one, told of and kept
    clock.advance(days=6)
    await _notify(world)
    assert await events() == 4
    clock.advance(days=1, minutes=1)
    await _notify(world)
    assert await events() == 0


async def test_machine_mail_tells_nobody(world: World, clock: Clock) -> None:
    await _ready(world)
    await _settings(world, "alma", "alma@exempelby.example", "new_case")
    await take(
        world.db,
        mail(20, sender="mailer-daemon@example.se", automation=Automation.AUTO_REPLY),
        clock,
    )
    await _notify(world)
    assert await _rows(world) == []


async def test_a_case_assigned_by_someone_else_is_mailed_and_not_one_taken_oneself(
    world: World, clock: Clock
) -> None:
    await _ready(world)
    await _settings(world, "karin", "karin@exempelby.example", "assigned")
    await _settings(world, "olle", "olle@exempelby.example")  # wants nothing
    reference = await _new_case(world, 11, "barn-och-familj")
    other = await _new_case(world, 12, "barn-och-familj")
    await _notify(world)
    ids = {name: await world.user_id(name) for name in ("alma", "karin", "olle")}

    async def assign(ref: str, to: str, by: str) -> None:
        async with unit_of_work(world.db.sessions) as session:
            case = (await session.execute(select(Case).where(Case.reference == ref))).scalar_one()
            actor = Actor(name=f"user:{ids[by]}", user_id=ids[by])
            await update_case(
                session, oidc=False, case=case, changes={"assignee": to}, actor=actor, now=clock()
            )

    await assign(reference, "karin", by="alma")
    await assign(other, "karin", by="karin")  # she took it herself: nothing to tell her
    await _notify(world)
    [sent] = await _send_all(world, clock)
    assert sent["To"] == "karin@exempelby.example"
    assert sent["Subject"] == f"Du har fått ärende {reference} i Barn och familj"
    assert f"https://inkorg.exempelby.example/cases/{reference}" in _body(sent)
    _no_secrets(sent)
    assert await _notify(world) == 0
    assert await _send_all(world, clock) == []

    # Olle turned assignments off: given a case, he gets no mail.
    vuxen = await _new_case(world, 13, "vuxen")
    await assign(vuxen, "olle", by="alma")
    await _notify(world)
    assert [r.recipient for r in await _rows(world)] == ["karin@exempelby.example"]


async def test_a_reply_on_their_case_is_mailed_to_the_handlaggare_only_when_wanted(
    world: World, clock: Clock
) -> None:
    await _ready(world)
    await _settings(world, "karin", "karin@exempelby.example", "reply")
    reference = await _new_case(world, 14, "barn-och-familj")
    async with unit_of_work(world.db.sessions) as session:
        case = (await session.execute(select(Case).where(Case.reference == reference))).scalar_one()
        await update_case(
            session,
            oidc=False,
            case=case,
            changes={"assignee": "karin"},
            actor=Actor(name="system"),
            now=clock(),
        )
    await _notify(world)
    assert await _rows(world) == []  # she wants replies only, not assignments

    clock.advance(minutes=5)
    receipt = await take(
        world.db,
        mail(15, sender="person14@example.se", subject=f"Re: [{reference}] Tack", text=SECRET_TEXT),
        clock,
    )
    assert receipt.reference == reference and not receipt.new_case
    await _notify(world)
    [sent] = await _send_all(world, clock)
    assert sent["To"] == "karin@exempelby.example"
    assert sent["Subject"] == f"Nytt meddelande i ärende {reference} i Barn och familj"
    _no_secrets(sent)
    assert await _notify(world) == 0

    # Replies off: the next reply tells nobody.
    await _settings(world, "karin", "karin@exempelby.example", "assigned")
    await take(
        world.db,
        mail(16, sender="person14@example.se", subject=f"Re: [{reference}] Igen"),
        clock,
    )
    await _notify(world)
    assert len(await _rows(world)) == 1


async def test_the_digest_goes_once_a_day_from_its_hour_with_overdue_cases_and_tasks(
    world: World, clock: Clock
) -> None:
    await _ready(world)
    await _settings(world, "karin", "karin@exempelby.example", "digest")
    await _settings(world, "olle", "olle@exempelby.example", "digest")
    late = await _new_case(world, 17, "barn-och-familj")
    flagged = await _new_case(world, 18, "barn-och-familj")
    olles = await _new_case(world, 19, "vuxen")
    async with unit_of_work(world.db.sessions) as session:
        for ref, who, changes in (
            (late, "karin", {}),
            (flagged, "karin", {"flags": {"child_at_risk": True}}),
            (olles, "olle", {}),
        ):
            case = (await session.execute(select(Case).where(Case.reference == ref))).scalar_one()
            await update_case(
                session,
                oidc=False,
                case=case,
                changes={"assignee": who, **changes},
                actor=Actor(name="system"),
                now=clock(),
            )
            if ref in (late, olles):
                case.due_on = date(2026, 3, 2)
    # 05:00 in Stockholm the next day: before the digest's hour, nothing.
    clock.now = clock.now.replace(hour=4, minute=0) + timedelta(days=1)
    await _notify(world)
    assert await _rows(world) == []

    clock.advance(hours=3)  # 08:00 in Stockholm
    await _notify(world)
    # Each gets their own cases only (everyone's are read in one query per kind).
    sent, olle = sorted(await _send_all(world, clock), key=lambda m: m["To"])
    assert olle["To"] == "olle@exempelby.example"
    assert olle["Subject"] == "Dina ärenden i dag: 1 försenat ärende"
    assert olles in _body(olle) and late not in _body(olle) and flagged not in _body(olle)
    assert sent["To"] == "karin@exempelby.example"
    assert olles not in _body(sent)
    assert sent["Subject"] == "Dina ärenden i dag: 1 försenat ärende och 1 öppen uppgift"
    body = _body(sent)
    assert f"- {late}, senast 2026-03-02: https://inkorg.exempelby.example/cases/{late}" in body
    assert f"- {flagged}, senast " in body
    assert "Orosanmälan" not in body
    _no_secrets(sent)

    # A restart later the same day (a fresh notifier) sends nothing again.
    clock.advance(hours=5)
    await _notify(world)
    assert len(await _rows(world)) == 2

    # The next morning, another each; digest off, none.
    clock.advance(days=1)
    await _notify(world)
    assert len(await _rows(world)) == 4
    await _settings(world, "karin", "karin@exempelby.example", "assigned")
    await _settings(world, "olle", "olle@exempelby.example", "assigned")
    clock.advance(days=1)
    await _notify(world)
    assert len(await _rows(world)) == 4


async def test_who_else_has_the_case_open_is_shown_and_expires(
    world: World, clock: Clock, as_user: SignIn
) -> None:
    karin, alma, olle = await as_user("karin"), await as_user("alma"), await as_user("olle")
    first = await karin.get(f"/cases/{world.barn}")
    assert "också ärendet öppet" not in first.text
    shown = await alma.get(f"/cases/{world.barn}")
    assert 'role="status" aria-live="polite"' in shown.text
    assert "Karin har också ärendet öppet." in shown.text

    # Karin's page reports every half minute and learns that Alma is there too.
    clock.advance(seconds=30)
    reported = await karin.post(
        f"/cases/{world.barn}/presence", data={"csrf_token": csrf_of(first.text)}
    )
    assert reported.status_code == 200
    assert "Alma har också ärendet öppet." in reported.text
    assert "Karin" not in reported.text

    # Alma closed her page: a minute after her last report she is no longer shown.
    clock.advance(seconds=61)
    reported = await karin.post(
        f"/cases/{world.barn}/presence", data={"csrf_token": csrf_of(first.text)}
    )
    assert "också ärendet öppet" not in reported.text

    # A case outside Olle's units: as if it did not exist.
    html = (await olle.get("/")).text
    hidden = await olle.post(f"/cases/{world.barn}/presence", data={"csrf_token": csrf_of(html)})
    assert hidden.status_code == 404
