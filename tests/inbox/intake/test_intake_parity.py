"""Parity: the corpus e-mails through `receive()` one at a time and through `receive_many()` (the
worker's batch) leave the very same rows, on two fresh databases with one fixed clock.

Beside the real e-mails the set has what the corpora lack: one person writing again under other
spellings, replies threading onto an earlier case of the set by Message-ID, by the reference in
the subject and by the Telegram chat, a stranger quoting that reference, a check-in style claim,
messages from us and from nobody, a redelivery, and, in a second round after staff closed a case
and blocked a contact, a reply that reopens the case and acknowledgements over the daily limit,
to a known sender and to new spellings of one new mailbox in one batch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.opening import Opening, open_case
from inbox.core.audit import SYSTEM, audit
from inbox.core.db import unit_of_work
from inbox.core.inbound import Channel, InboundMessage
from inbox.core.models import (
    Attachment,
    AuditEvent,
    Case,
    CaseStatus,
    Contact,
    IntakeRecord,
    Message,
    OutboxItem,
    ReferenceCounter,
)
from inbox.intake import ledger
from inbox.intake.receive import IntakePolicy, Receipt, receive, receive_many
from mail.parse import parse_email
from tests.conftest import Clock, Database
from tests.factories import POLICY, UNPARSABLE, corpus_id, mail, message_files

Row = dict[str, Any]


async def callback_claim(
    session: AsyncSession, msg: InboundMessage, contact: Contact, now: datetime
) -> str | None:
    """A stand-in for the check-in answers: it takes a known sender's "ring upp mig" and opens a
    callback case of its own, so its reference shows where in the batch the claim ran."""
    if "ring upp" not in msg.subject.lower():
        return None
    case = await open_case(
        session,
        Opening(
            channel=msg.channel,
            subject="Återuppringning",
            text="",
            received_at=now,
            response_days=5,
            contact_id=contact.id,
            origin="checkin",
            callback=True,
        ),
        prefix="SP",
        now=now,
    )
    audit(session, actor=SYSTEM, action="callback.requested", case=case, now=now)
    return "callback requested"


PARITY_POLICY: IntakePolicy = replace(POLICY, claims=(callback_claim,))


def telegram(n: int, chat: str = "4711", **kwargs: Any) -> InboundMessage:
    fields: dict[str, Any] = {
        "channel": Channel.TELEGRAM,
        "external_id": f"tg{n}",
        "sender_address": chat,
        "sender_name": "Kalle",
        "text": f"Meddelande {n} i chatten",
        "message_id": f"{n}.{chat}@telegram",
        "chat_id": chat,
        "language": "sv",
        "raw": b"{}",
    }
    return InboundMessage(**(fields | kwargs))


@cache
def corpus() -> tuple[InboundMessage, ...]:
    return tuple(
        parse_email(path.read_bytes())
        for path in message_files()
        if corpus_id(path) not in UNPARSABLE
    )


def reply_to(msg: InboundMessage, n: int) -> InboundMessage:
    """A follow-up from `msg`'s sender that answers it by its Message-ID."""
    assert msg.message_id
    return replace(
        msg,
        external_id=f"reply{n}@example.org",
        message_id=f"<reply{n}@example.org>",
        in_reply_to=msg.message_id,
        references=(msg.message_id,),
        subject=f"Re: {msg.subject}",
        attachments=(),
    )


def interleave(
    corpus: Sequence[InboundMessage], ours: Sequence[InboundMessage]
) -> list[InboundMessage]:
    """`ours` spread in order among the corpus messages, so each batch mixes both kinds."""
    step = max(1, len(corpus) // (len(ours) + 1))
    out: list[InboundMessage] = []
    queue = list(ours)
    for i, msg in enumerate(corpus, 1):
        out.append(msg)
        if i % step == 0 and queue:
            out.append(queue.pop(0))
    return out + queue


def rounds() -> tuple[list[InboundMessage], list[InboundMessage]]:
    """The two rounds of messages; staff close SP-2026-0001 and block eve in between."""
    messages = corpus()
    half = len(messages) // 2
    person = next(
        m for m in messages[:half] if m.sender_address and m.message_id and not m.automated
    )
    first = interleave(
        messages[:half],
        [
            mail(2, in_reply_to="<m1@example.se>", references=("<m1@example.se>",)),
            mail(3, sender="ANNA@Example.se", subject="Sv: [SP-2026-0001] tillägg"),
            mail(4, sender="eve@example.org", subject="Angående [SP-2026-0001]"),
            mail(5, sender="anna+x@example.se"),
            telegram(1),
            mail(6, sender="Anna+y@Example.se"),
            telegram(2),
            mail(7, sender="anna+z@example.se"),
            mail(8, subject="Ring upp mig"),
            telegram(3, extra={"new_case": "1"}),
            mail(9, sender="Synpunkt@synpunkt.example"),
            mail(10, sender_address=None),
            reply_to(person, 1),
            mail(11, in_reply_to="<m1@example.se>", text="Mitt personnummer är 811218-9876."),
            mail(1),
        ],
    )
    second = interleave(
        messages[half:],
        [
            mail(20, in_reply_to="<m2@example.se>", references=("<m1@example.se>",)),
            mail(21, sender="eve@example.org", subject="Ny synpunkt"),
            mail(22, subject="En till"),
            telegram(4),
            mail(23, sender="anna+x@example.se", subject="Ring upp mig"),
            mail(2, in_reply_to="<m1@example.se>", references=("<m1@example.se>",)),
        ],
    )
    # Four new spellings of one new mailbox in a row: one run, and the fourth is over the limit.
    spellings = ["bo@example.se", "Bo+1@example.se", "bo+2@Example.se", "bo+3@example.se"]
    second += [mail(30 + n, sender=sender) for n, sender in enumerate(spellings)]
    return [mail(1), *first], second


async def one_by_one(db: Database, msgs: list[InboundMessage], clock: Clock) -> list[Receipt]:
    """Each message in a transaction of its own through `receive()`."""
    receipts = []
    for msg in msgs:
        async with unit_of_work(db.sessions) as session:
            receipts.append(await receive(session, msg, policy=PARITY_POLICY, now=clock()))
    return receipts


async def as_batch(db: Database, msgs: list[InboundMessage], clock: Clock) -> list[Receipt]:
    """The worker's way: each message recorded in the ledger first (where a redelivery stops),
    then one `receive_many()` for the rows."""
    async with unit_of_work(db.sessions) as session:
        items = []
        for msg in msgs:
            row_id = await ledger.record(
                session, channel=msg.channel, external_id=msg.external_id, raw=msg.raw, now=clock()
            )
            if row_id is not None:
                row = await session.get(IntakeRecord, row_id)
                assert row is not None
                items.append((msg, row))
        return await receive_many(session, items, policy=PARITY_POLICY, now=clock())


async def staff_changes(db: Database, clock: Clock) -> None:
    """Between the rounds: SP-2026-0001 is closed, and eve is blocked."""
    async with unit_of_work(db.sessions) as session:
        await session.execute(
            update(Case)
            .where(col(Case.reference) == "SP-2026-0001")
            .values(status=CaseStatus.CLOSED, closed_at=clock(), updated_at=clock())
        )
        await session.execute(
            update(Contact).where(col(Contact.address) == "eve@example.org").values(blocked=True)
        )


# --- the rows, with database ids replaced by what they point at ------------------------------

# `make_msgid` puts the time, the process id and a random number before our part of the id.
_MSGID = re.compile(r"^(<?)\d+\.\d+\.\d+\.")


def _msgid(value: str | None) -> str | None:
    return _MSGID.sub(r"\1*.", value) if value else value


async def _rows(session: AsyncSession, model: Any) -> list[Row]:
    table = model.__table__
    return [dict(row._mapping) for row in await session.execute(select(table))]


async def dump(db: Database) -> dict[str, list[Row]]:
    """Every row intake writes, ids replaced by natural keys, sorted."""
    async with db.sessions() as session:
        contacts = await _rows(session, Contact)
        cases = await _rows(session, Case)
        messages = await _rows(session, Message)
        attachments = await _rows(session, Attachment)
        events = await _rows(session, AuditEvent)
        outbox = await _rows(session, OutboxItem)
        intake = await _rows(session, IntakeRecord)
        counters = await _rows(session, ReferenceCounter)
    contact_key = {c["id"]: (c["channel"], c["address"]) for c in contacts}
    case_key = {c["id"]: c["reference"] for c in cases}
    intake_key = {r["id"]: (r["channel"], r["external_id"]) for r in intake}
    message_key = {
        m["id"]: (case_key[m["case_id"]], m["direction"], m["kind"], intake_key.get(m["intake_id"]))
        for m in messages
    }
    assert len(set(message_key.values())) == len(message_key), "message keys are not unique"

    def swap(row: Row, **keys: dict[Any, Any]) -> Row:
        row = {name: value for name, value in row.items() if name != "id"}
        for name, lookup in keys.items():
            if row[name] is not None:
                row[name] = lookup[row[name]]
        return row

    for m in messages:
        m["rfc_message_id"] = _msgid(m["rfc_message_id"])
    for item in outbox:
        item["payload"] = item["payload"] | {
            "message_id": _msgid(item["payload"].get("message_id"))
        }
    for event in events:
        if "message_id" in event["detail"]:
            event["detail"] = event["detail"] | {
                "message_id": message_key[event["detail"]["message_id"]]
            }
    tables = {
        "contacts": [swap(c) for c in contacts],
        "cases": [swap(c, contact_id=contact_key) for c in cases],
        "messages": [swap(m, case_id=case_key, intake_id=intake_key) for m in messages],
        "attachments": [swap(a, message_id=message_key) for a in attachments],
        "audit_events": [swap(e, case_id=case_key) for e in events],
        "outbox": [swap(o, case_id=case_key, message_id=message_key) for o in outbox],
        "intake_ledger": [swap(r, case_id=case_key) for r in intake],
        "reference_counters": counters,
    }
    return {name: sorted(rows, key=repr) for name, rows in tables.items()}


def differences(one: list[Row], other: list[Row]) -> str:
    """The first rows found on one side only, each cut short."""
    only_one = [repr(row)[:400] for row in one if row not in other][:3]
    only_other = [repr(row)[:400] for row in other if row not in one][:3]
    return f"{len(one)} vs {len(other)} rows\nonly receive(): {only_one}\nonly batch: {only_other}"


async def test_receive_and_receive_many_write_the_same_rows(
    db: Database, other_db: Database, clock: Clock
) -> None:
    first, second = rounds()
    receipts = await one_by_one(db, first, clock)
    batch_receipts = await as_batch(other_db, first, clock)
    clock.advance(hours=1)
    for database in (db, other_db):
        await staff_changes(database, clock)
    receipts += await one_by_one(db, second, clock)
    batch_receipts += await as_batch(other_db, second, clock)

    # The set reaches every rule it is meant to compare.
    reasons = {r.no_ack_reason for r in receipts}
    assert {
        None,
        "duplicate",
        "callback requested",
        "no sender address",
        "our own address",
        "contact blocked",
        "over 3 acknowledgements in 24 hours",
    } <= reasons
    assert any(reason and reason.startswith("machine mail") for reason in reasons)
    assert sum(not r.new_case and not r.duplicate and r.case_id is not None for r in receipts) >= 6

    # What each message became; a redelivery never reaches the batch (the ledger stops it), and
    # message ids differ legitimately (a run stores its messages before their acknowledgements).
    def outcome(r: Receipt) -> tuple[Any, ...]:
        return (r.case_id, r.reference, r.new_case, r.acknowledged, r.no_ack_reason)

    assert [outcome(r) for r in receipts if not r.duplicate] == [outcome(r) for r in batch_receipts]
    assert not any(r.duplicate for r in batch_receipts)

    one, other = await dump(db), await dump(other_db)
    assert one["messages"] and one["attachments"] and one["outbox"]
    for table in one:
        assert one[table] == other[table], f"{table}: {differences(one[table], other[table])}"
