"""Staff are told about work: e-mail on a new case in their units, a case assigned to them, a
reply on a case assigned to them, and a daily digest of their overdue cases and open tasks.

The write paths (opening a case, `update_case`, intake storing a message) only record a
`NotificationEvent` in their own transaction, with ids and nothing else: they need to know
nothing of mail, addresses or settings. The worker (`inbox.runners.notifier`) then turns each
event into one outbox row per staff member who wants it (`notify_pending`), and sends the digest
once a day at the configured hour (`send_digests`): through the outbox like every other mail, with
an idempotency key per event and person (per day for the digest), so nothing is told twice.

Secrecy: mail to staff may leave the organisation's systems, so it says only the case's reference,
its unit and a link: never the sender's text, name or address, nor the case's subject.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.access import scopes_for_users
from inbox.core import outbox
from inbox.core.db import for_update_skip_locked, upsert
from inbox.core.models import (
    Case,
    CaseStatus,
    NotificationEvent,
    NotificationKind,
    NotificationSetting,
    StaffUser,
    Task,
    Unit,
)
from inbox.core.time import STOCKHOLM

OUTBOX_KIND = "staff.notify"
KEEP_EVENTS = timedelta(days=7)
_EVENTS = NotificationEvent.__table__  # type: ignore[attr-defined]
# The kinds a user chooses, with what the settings page says of each.
CHOICES: dict[str, str] = {
    NotificationKind.NEW_CASE: "Ett nytt ärende kommer in i mina verksamheter",
    NotificationKind.ASSIGNED: "Någon annan ger mig ett ärende",
    NotificationKind.REPLY: "Ett nytt meddelande kommer in i ett ärende jag är handläggare för",
    NotificationKind.DIGEST: "En sammanfattning varje morgon av mina försenade ärenden och "
    "öppna uppgifter",
}


@dataclass(frozen=True, slots=True)
class NotifyPolicy:
    """What notifications need of the installation (built from the settings by the CLI)."""

    base_url: str = "http://127.0.0.1:8000"  # the staff inbox, for links
    mail_domain: str = "synpunkt.localhost"  # for Message-IDs
    digest_hour: int = 7  # Stockholm time; the digest goes at the first round from then on


# Recording, in the write paths ---------------------------------------------------------------


async def record_opened(session: AsyncSession, case_ids: Iterable[int], *, now: datetime) -> None:
    """New cases (not machine mail: the caller leaves those out)."""
    rows = [
        {"kind": NotificationKind.NEW_CASE, "case_id": case_id, "created_at": now}
        for case_id in case_ids
    ]
    if rows:
        await session.execute(insert(_EVENTS), rows)


async def record_assigned(
    session: AsyncSession,
    *,
    case_id: int,
    assignee_id: int,
    actor_user_id: int | None,
    now: datetime,
) -> None:
    """A case given to `assignee_id`; nobody is told of what they did themselves."""
    if assignee_id == actor_user_id:
        return
    await session.execute(
        insert(_EVENTS).values(
            kind=NotificationKind.ASSIGNED,
            case_id=case_id,
            user_id=assignee_id,
            actor_user_id=actor_user_id,
            created_at=now,
        )
    )


async def record_replies(
    session: AsyncSession, replies: Iterable[tuple[int, int]], *, now: datetime
) -> None:
    """Messages in on existing cases, as (case id, message id)."""
    rows = [
        {
            "kind": NotificationKind.REPLY,
            "case_id": case_id,
            "message_id": message_id,
            "created_at": now,
        }
        for case_id, message_id in replies
    ]
    if rows:
        await session.execute(insert(_EVENTS), rows)


# Settings ---------------------------------------------------------------------------------------


async def settings_of(session: AsyncSession, user_id: int) -> NotificationSetting:
    """The user's settings; the defaults (not stored) when they never saved any."""
    found = await session.get(NotificationSetting, user_id)
    return found or NotificationSetting(user_id=user_id)


async def save_settings(
    session: AsyncSession, *, user: StaffUser, email: str | None, chosen: Iterable[str]
) -> None:
    """The user's address (None: no notifications at all) and the kinds they want."""
    assert user.id is not None
    user.email = email
    wanted = set(chosen)
    values = {kind.value: kind.value in wanted for kind in NotificationKind}
    await session.execute(
        upsert(session, NotificationSetting)
        .values(user_id=user.id, **values)
        .on_conflict_do_update(index_elements=["user_id"], set_=values)
    )
    await session.flush()


def wants(setting: NotificationSetting, kind: str) -> bool:
    return bool(getattr(setting, kind))


# Fan-out, in the worker -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Recipient:
    user: StaffUser
    setting: NotificationSetting


async def _recipients(session: AsyncSession) -> list[_Recipient]:
    """Active users with an address, with their settings."""
    rows = await session.execute(
        select(StaffUser, NotificationSetting)
        .outerjoin(NotificationSetting, col(NotificationSetting.user_id) == col(StaffUser.id))
        .where(col(StaffUser.active).is_(True), col(StaffUser.email).is_not(None))
        .order_by(col(StaffUser.id))
    )
    return [
        _Recipient(user, setting or NotificationSetting(user_id=user.id or 0))
        for user, setting in rows.all()
        if (user.email or "").strip()
    ]


async def notify_pending(
    session: AsyncSession, *, policy: NotifyPolicy, now: datetime, limit: int = 200
) -> int:
    """Turns up to `limit` pending events into outbox rows and marks them done; how many."""
    events = list(
        (
            await session.execute(
                for_update_skip_locked(
                    session,
                    select(NotificationEvent)
                    .where(col(NotificationEvent.done_at).is_(None))
                    .order_by(col(NotificationEvent.id))
                    .limit(limit),
                )
            )
        ).scalars()
    )
    if not events:
        return 0
    cases = {
        c.id: c
        for c in (
            await session.execute(select(Case).where(col(Case.id).in_({e.case_id for e in events})))
        ).scalars()
    }
    units = {u.id: u.name for u in (await session.execute(select(Unit))).scalars()}
    recipients = await _recipients(session)
    scopes = await scopes_for_users(session, users=[r.user for r in recipients])
    for event in events:
        event.done_at = now
        case = cases.get(event.case_id)
        if case is None:
            continue
        unit = units.get(case.unit_id) if case.unit_id is not None else None
        for recipient in _told(event, case, recipients, scopes):
            await _enqueue(
                session,
                recipient.user,
                key=_key(event, recipient.user),
                subject=_subject(event.kind, case.reference, unit),
                text=_text(event.kind, case.reference, unit, policy),
                policy=policy,
                now=now,
            )
    await session.flush()
    return len(events)


def _told(
    event: NotificationEvent, case: Case, recipients: Sequence[_Recipient], scopes: dict[int, Any]
) -> list[_Recipient]:
    """Who is told of `event`: the ones it concerns who want it and see the case now."""
    kind = event.kind
    told = []
    for r in recipients:
        if not wants(r.setting, kind) or r.user.id == event.actor_user_id:
            continue
        if not scopes[r.user.id or 0].allows_unit(case.unit_id):
            continue
        if kind == NotificationKind.NEW_CASE:
            told.append(r)
        elif kind == NotificationKind.ASSIGNED:
            # Still theirs: an assignment undone before the worker came is not news.
            if r.user.id == event.user_id and case.assignee_id == event.user_id:
                told.append(r)
        elif kind == NotificationKind.REPLY and r.user.id == case.assignee_id:
            told.append(r)
    return told


def _key(event: NotificationEvent, user: StaffUser) -> str:
    """The same event never tells the same person twice, whatever is recorded or retried."""
    if event.kind == NotificationKind.NEW_CASE:
        return f"notify:new_case:{event.case_id}:{user.id}"
    if event.kind == NotificationKind.REPLY and event.message_id is not None:
        return f"notify:reply:{event.message_id}:{user.id}"
    return f"notify:{event.kind}:{event.id}:{user.id}"


def _where(unit: str | None) -> str:
    return f" i {unit}" if unit else ""


def case_link(policy: NotifyPolicy, reference: str) -> str:
    return f"{policy.base_url.rstrip('/')}/cases/{reference}"


def _subject(kind: str, reference: str, unit: str | None) -> str:
    if kind == NotificationKind.NEW_CASE:
        return f"Nytt ärende {reference}{_where(unit)}"
    if kind == NotificationKind.ASSIGNED:
        return f"Du har fått ärende {reference}{_where(unit)}"
    return f"Nytt meddelande i ärende {reference}{_where(unit)}"


def _text(kind: str, reference: str, unit: str | None, policy: NotifyPolicy) -> str:
    if kind == NotificationKind.NEW_CASE:
        said = f"Ett nytt ärende har kommit in: {reference}{_where(unit)}."
    elif kind == NotificationKind.ASSIGNED:
        said = f"Du är nu handläggare för ärende {reference}{_where(unit)}."
    else:
        said = f"Ett nytt meddelande har kommit in i ärende {reference}{_where(unit)}."
    return f"Hej!\n\n{said}\n\nÖppna ärendet: {case_link(policy, reference)}\n\n{_footer(policy)}"


def _footer(policy: NotifyPolicy) -> str:
    return (
        "Vad ärendet gäller står bara i inkorgen, inte i e-post.\n"
        "Du får det här för att du har valt det. Du ändrar vad du får under Inställningar: "
        f"{policy.base_url.rstrip('/')}/installningar\n"
    )


async def _enqueue(
    session: AsyncSession,
    user: StaffUser,
    *,
    key: str,
    subject: str,
    text: str,
    policy: NotifyPolicy,
    now: datetime,
) -> None:
    assert user.email is not None
    await outbox.enqueue(
        session,
        kind=OUTBOX_KIND,
        channel="email",
        recipient=user.email.strip(),
        payload={
            "message_id": make_msgid(idstring="notify", domain=policy.mail_domain),
            "subject": subject,
            "text": text,
            "auto_submitted": "auto-generated",
            "languages": ["sv"],
        },
        idempotency_key=key,
        now=now,
    )


async def prune_events(session: AsyncSession, *, now: datetime) -> int:
    """Removes the events told of more than `KEEP_EVENTS` ago (the outbox keeps what was sent)."""
    removed = await session.execute(
        delete(NotificationEvent).where(col(NotificationEvent.done_at) < now - KEEP_EVENTS)
    )
    return int(getattr(removed, "rowcount", 0) or 0)


# The daily digest -------------------------------------------------------------------------------


async def send_digests(session: AsyncSession, *, policy: NotifyPolicy, now: datetime) -> int:
    """From the digest hour (Stockholm), each user who wants it and has not had today's gets one
    mail of their overdue cases and open tasks (none when there are neither); the day is recorded,
    so a restart sends nothing again. How many mails were queued."""
    local = now.astimezone(STOCKHOLM)
    if local.hour < policy.digest_hour:
        return 0
    today = local.date()
    queued = 0
    due = [
        r
        for r in await _recipients(session)
        if r.setting.digest and r.setting.digest_sent_on != today and r.user.id is not None
    ]
    ids = [r.user.id for r in due]
    # Everyone's overdue cases and open tasks in two queries, whatever the number of users.
    overdue_of: dict[int | None, list[tuple[Any, ...]]] = defaultdict(list)
    for row in await session.execute(
        select(col(Case.assignee_id), col(Case.reference), col(Case.due_on))
        .where(
            col(Case.assignee_id).in_(ids),
            col(Case.status) != CaseStatus.CLOSED,
            col(Case.due_on) < today,
        )
        .order_by(col(Case.due_on), col(Case.id))
    ):
        overdue_of[row[0]].append(tuple(row[1:]))
    tasks_of: dict[int | None, list[tuple[Any, ...]]] = defaultdict(list)
    for row in await session.execute(
        select(col(Case.assignee_id), col(Case.reference), col(Task.due_on))
        .join(Case, col(Case.id) == col(Task.case_id))
        .where(col(Case.assignee_id).in_(ids), col(Task.done_at).is_(None))
        .order_by(col(Task.due_on), col(Task.id))
    ):
        tasks_of[row[0]].append(tuple(row[1:]))
    for r in due:
        assert r.user.id is not None
        overdue, tasks = overdue_of[r.user.id], tasks_of[r.user.id]
        if overdue or tasks:
            await _enqueue(
                session,
                r.user,
                key=f"notify:digest:{r.user.id}:{today.isoformat()}",
                subject=_digest_subject(len(overdue), len(tasks)),
                text=_digest_text(overdue, tasks, policy),
                policy=policy,
                now=now,
            )
            queued += 1
        await session.execute(
            upsert(session, NotificationSetting)
            .values(
                user_id=r.user.id,
                new_case=r.setting.new_case,
                assigned=r.setting.assigned,
                reply=r.setting.reply,
                digest=r.setting.digest,
                digest_sent_on=today,
            )
            .on_conflict_do_update(index_elements=["user_id"], set_={"digest_sent_on": today})
        )
    await session.flush()
    return queued


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _digest_subject(overdue: int, tasks: int) -> str:
    parts = []
    if overdue:
        parts.append(_count(overdue, "försenat ärende", "försenade ärenden"))
    if tasks:
        parts.append(_count(tasks, "öppen uppgift", "öppna uppgifter"))
    return "Dina ärenden i dag: " + " och ".join(parts)


def _digest_text(overdue: Sequence[Any], tasks: Sequence[Any], policy: NotifyPolicy) -> str:
    lines = ["Hej!", ""]
    # A task's kind is not said: "orosanmälan" alone tells something of a person.
    for heading, rows in (
        ("Försenade ärenden, som skulle ha besvarats:", overdue),
        ("Öppna uppgifter:", tasks),
    ):
        if rows:
            lines.append(heading)
            lines += [
                f"- {ref}, senast {due.isoformat()}: {case_link(policy, ref)}" for ref, due in rows
            ]
            lines.append("")
    lines.append(_footer(policy))
    return "\n".join(lines)
