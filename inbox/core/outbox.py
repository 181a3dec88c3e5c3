"""The outbox: everything that leaves the system is a row written in the same transaction as its reason.

Workers claim due rows under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL), renew it while they
send, and mark them sent, retried with exponential backoff, or dead. Each claim counts an attempt,
and that count tells one claim of a row from the next: a worker renews only the leases it still
holds. The idempotency key makes a second enqueue of the same thing a no-op; the outbound `Message`
row linked to an item shows its delivery on the case.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.core.db import for_update_skip_locked, insert_ignoring_conflicts
from inbox.core.logs import event
from inbox.core.metrics import METRICS
from inbox.core.models import Delivery, Message, OutboxItem, OutboxStatus

LEASE = timedelta(minutes=5)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=6)


def outbox_row(
    *,
    kind: str,
    channel: str,
    recipient: str,
    payload: dict[str, Any],
    idempotency_key: str,
    now: datetime,
    run_at: datetime | None = None,
    case_id: int | None = None,
    message_id: int | None = None,
) -> dict[str, Any]:
    """The values of a new outbox row, due at `run_at` (default now): `enqueue()` adds one,
    batch intake and the decision import insert many at once."""
    return {
        "kind": kind,
        "channel": channel,
        "recipient": recipient,
        "payload": payload,
        "idempotency_key": idempotency_key,
        "status": OutboxStatus.PENDING,
        "run_at": run_at or now,
        "attempts": 0,
        "case_id": case_id,
        "message_id": message_id,
        "created_at": now,
    }


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    channel: str,
    recipient: str,
    payload: dict[str, Any],
    idempotency_key: str,
    now: datetime,
    run_at: datetime | None = None,
    case_id: int | None = None,
    message_id: int | None = None,
) -> OutboxItem | None:
    """Adds a row; returns None when a row with the same idempotency key already exists."""
    inserted = await session.execute(
        insert_ignoring_conflicts(session, OutboxItem)
        .values(
            **outbox_row(
                kind=kind,
                channel=channel,
                recipient=recipient,
                payload=payload,
                idempotency_key=idempotency_key,
                now=now,
                run_at=run_at,
                case_id=case_id,
                message_id=message_id,
            )
        )
        .returning(OutboxItem)
    )
    return inserted.scalar_one_or_none()  # type: ignore[no-any-return]


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int = 50,
    lease: timedelta = LEASE,
    channels: Collection[str] | None = None,
) -> Sequence[OutboxItem]:
    """Takes up to `limit` due rows for this worker until `now + lease`.

    With `channels`, only rows this worker can send: a process without a Telegram sender leaves
    Telegram rows to the process that has one.
    """
    due = (
        select(OutboxItem)
        .where(
            col(OutboxItem.status) == OutboxStatus.PENDING,
            col(OutboxItem.run_at) <= now,
            or_(col(OutboxItem.lease_until).is_(None), col(OutboxItem.lease_until) <= now),
        )
        .order_by(col(OutboxItem.run_at), col(OutboxItem.id))
        .limit(limit)
    )
    if channels is not None:
        if not channels:
            return []
        due = due.where(col(OutboxItem.channel).in_(list(channels)))
    items = (await session.execute(for_update_skip_locked(session, due))).scalars().all()
    for item in items:
        item.lease_until = now + lease
        item.attempts += 1
    await session.flush()
    return items


async def renew_leases(
    session: AsyncSession,
    claims: Mapping[int, int],
    *,
    now: datetime,
    lease: timedelta = LEASE,
) -> set[int]:
    """Extends to `now + lease` the leases of rows still being sent; returns the ids it extended.

    `claims` maps each row to the attempt count its claim set. A row claimed again since (its lease
    ran out and another worker took it: one attempt more) or finished (no longer pending, or its
    lease cleared for a retry) is left alone, so a renewal never takes a row from under a newer
    claim.
    """
    if not claims:
        return set()
    renewed = await session.execute(
        update(OutboxItem)
        .where(
            tuple_(col(OutboxItem.id), col(OutboxItem.attempts)).in_(list(claims.items())),
            col(OutboxItem.status) == OutboxStatus.PENDING,
            col(OutboxItem.lease_until).is_not(None),
        )
        .values(lease_until=now + lease)
        .returning(col(OutboxItem.id))
        .execution_options(synchronize_session=False)
    )
    return {item_id for item_id in renewed.scalars() if item_id is not None}


def _result(item: OutboxItem, result: str) -> None:
    """Counts and logs a send's outcome: sent, retry, failed (given up) or cancelled."""
    METRICS.outbox_results.labels(item.kind, result).inc()
    event(__name__, "outbox_result", outbox_id=item.id, kind=item.kind, result=result)


async def mark_sent(session: AsyncSession, item: OutboxItem, *, now: datetime) -> None:
    _result(item, "sent")
    item.status = OutboxStatus.SENT
    item.sent_at = now
    item.lease_until = None
    item.last_error = None
    await _set_delivery(session, item, Delivery.SENT, now=now)


async def mark_retry(
    session: AsyncSession,
    item: OutboxItem,
    *,
    error: str,
    now: datetime,
    max_attempts: int,
    retry_after: timedelta | None = None,
) -> None:
    """A temporary failure: try again later, or give up after `max_attempts`."""
    if item.attempts >= max_attempts:
        await mark_dead(
            session, item, error=f"gave up after {item.attempts} attempts: {error}", now=now
        )
        return
    _result(item, "retry")
    delay = retry_after or min(BACKOFF_BASE * 2 ** (item.attempts - 1), BACKOFF_MAX)
    item.run_at = now + delay
    item.lease_until = None
    item.last_error = error[:2000]
    await session.flush()


async def mark_dead(session: AsyncSession, item: OutboxItem, *, error: str, now: datetime) -> None:
    _result(item, "failed")
    item.status = OutboxStatus.DEAD
    item.lease_until = None
    item.last_error = error[:2000]
    await _set_delivery(session, item, Delivery.DEAD, now=now, error=error[:2000])


async def mark_cancelled(
    session: AsyncSession, item: OutboxItem, *, reason: str, now: datetime
) -> None:
    _result(item, "cancelled")
    item.status = OutboxStatus.CANCELLED
    item.lease_until = None
    item.last_error = reason
    await _set_delivery(session, item, Delivery.CANCELLED, now=now, error=reason)


async def _set_delivery(
    session: AsyncSession,
    item: OutboxItem,
    delivery: Delivery,
    *,
    now: datetime,
    error: str | None = None,
) -> None:
    if item.message_id is not None:
        await session.execute(
            update(Message)
            .where(col(Message.id) == item.message_id)
            .values(
                delivery=delivery,
                delivered_at=now if delivery is Delivery.SENT else None,
                delivery_error=error,
            )
        )
    await session.flush()
