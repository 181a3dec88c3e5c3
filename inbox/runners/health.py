"""What `/healthz` judges from the database: the parts' heartbeats, the intake ledger and the outbox.

Each problem makes health answer 503: a part that beat within the last day but has gone stale; mail
waiting (intake or outbox) with no live worker, after a short grace; a burst of failed messages; a
claim that no worker finishes; the oldest pending message or due send older than the policy.

They are read from the database, so any web process sees them, wherever the parts run; what only
a worker knows (its parse pool) comes through its channel status instead. Every query is bounded by
an index (a status, a time): none reads a whole table (`statements` lists them, and a test checks
their plans).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.core.models import Heartbeat, IntakeRecord, IntakeStatus, OutboxItem, OutboxStatus
from inbox.intake import ledger
from inbox.runners.heartbeat import KEEP, Part


@dataclass(frozen=True)
class HealthPolicy:
    failed_burst: int = 10  # more failed messages than this within `window` is a burst
    window: timedelta = timedelta(minutes=15)
    backlog: timedelta = timedelta(minutes=15)  # the oldest pending message may wait this long
    outbox_backlog: timedelta = timedelta(minutes=15)  # and the oldest due send this long
    stuck: timedelta = timedelta(minutes=5)  # a claim whose lease ran out this long ago
    max_attempts: int = ledger.MAX_ATTEMPTS
    timeout: float = 2.0  # seconds the database has to answer before health says "busy"
    heartbeat: timedelta = timedelta(seconds=15)  # how often every running part beats
    stale_beats: int = 3  # a part with no beat for this many intervals is stale
    grace_beats: int = 2  # mail may wait this many intervals for a worker to beat
    remembered: timedelta = KEEP  # a part that beat within this long is expected to run

    @property
    def stale(self) -> timedelta:
        return self.heartbeat * self.stale_beats

    @property
    def grace(self) -> timedelta:
        return self.heartbeat * self.grace_beats


# A part's and an instance's state: beating lately, silent too long, or stopped cleanly.
LIVE, STALE, STOPPED = "live", "stale", "stopped"


@dataclass(frozen=True)
class InstanceBeat:
    """One process's beat of a part."""

    instance: str  # host:pid
    version: str
    started_at: datetime
    beat_at: datetime
    age_seconds: float
    state: str


@dataclass(frozen=True)
class PartState:
    """A part over all its processes: live if one of them is."""

    status: str
    last_beat_at: datetime
    age_seconds: float
    instances: list[InstanceBeat]


@dataclass(frozen=True)
class Backlog:
    """How long the oldest pending message and the oldest due send have waited (None: none)."""

    intake_seconds: float | None = None
    outbox_seconds: float | None = None


@dataclass
class Findings:
    """What the database says: counts of unfinished rows, each part, the backlog, the problems."""

    intake: dict[str, int] = field(default_factory=dict)  # pending and failed ledger rows
    outbox: dict[str, int] = field(default_factory=dict)  # pending and dead sends
    parts: dict[str, PartState] = field(default_factory=dict)
    backlog: Backlog = field(default_factory=Backlog)
    problems: list[str] = field(default_factory=list)


def _minutes(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    return f"{seconds:.0f} seconds" if seconds < 120 else f"{seconds / 60:.0f} minutes"


def statements(policy: HealthPolicy, now: datetime) -> dict[str, Select[*tuple[Any, ...]]]:
    """Every query health runs, by name; each is bounded by an index (status, time)."""
    intake_status, outbox_status = col(IntakeRecord.status), col(OutboxItem.status)
    lease = col(IntakeRecord.lease_until)
    pending = intake_status == IntakeStatus.PENDING
    return {
        "intake counts": select(intake_status, func.count())
        .where(intake_status.in_([IntakeStatus.PENDING, IntakeStatus.FAILED]))
        .group_by(intake_status),
        "outbox counts": select(outbox_status, func.count())
        .where(outbox_status.in_([OutboxStatus.PENDING, OutboxStatus.DEAD]))
        .group_by(outbox_status),
        "failed burst": select(func.count())
        .select_from(IntakeRecord)
        .where(
            intake_status == IntakeStatus.FAILED,
            col(IntakeRecord.processed_at) >= now - policy.window,
        ),
        "oldest pending": select(func.min(col(IntakeRecord.received_at))).where(pending),
        "stuck claim": select(col(IntakeRecord.id), col(IntakeRecord.attempts), lease)
        .where(
            pending,
            or_(
                lease <= now - policy.stuck,
                and_(col(IntakeRecord.attempts) >= policy.max_attempts, lease <= now),
            ),
        )
        .order_by(lease)
        .limit(1),
        "oldest due send": select(func.min(col(OutboxItem.run_at))).where(
            outbox_status == OutboxStatus.PENDING, col(OutboxItem.run_at) <= now
        ),
        "heartbeats": select(Heartbeat).where(col(Heartbeat.beat_at) >= now - policy.remembered),
    }


async def check(session: AsyncSession, *, policy: HealthPolicy, now: datetime) -> Findings:
    """Everything health reads from the database, and the problems it finds there."""
    queries = statements(policy, now)
    found = Findings(
        intake=dict((await session.execute(queries["intake counts"])).all()),
        outbox=dict((await session.execute(queries["outbox counts"])).all()),
    )
    failed = (await session.execute(queries["failed burst"])).scalar_one()
    if failed > policy.failed_burst:
        found.problems.append(
            f"intake failures: {failed} messages failed in the last {_minutes(policy.window)}"
        )
    oldest = (await session.execute(queries["oldest pending"])).scalar_one()
    waited = now - oldest if oldest is not None else None
    if waited is not None and waited > policy.backlog:
        found.problems.append(f"backlog: the oldest pending message has waited {_minutes(waited)}")
    stuck = (await session.execute(queries["stuck claim"])).first()
    if stuck is not None:
        row_id, attempts, lease_until = stuck
        assert lease_until is not None  # the query compared it
        found.problems.append(
            f"stuck claim: intake row {row_id}, claimed {attempts} times, is unfinished and its "
            f"lease ran out {_minutes(now - lease_until)} ago"
        )
    due = (await session.execute(queries["oldest due send"])).scalar_one()
    overdue = now - due if due is not None else None
    if overdue is not None and overdue > policy.outbox_backlog:
        found.problems.append(
            f"outbox backlog: the oldest due message has waited {_minutes(overdue)} to be sent"
        )
    found.backlog = Backlog(
        intake_seconds=_seconds(waited) if waited is not None else None,
        outbox_seconds=_seconds(overdue) if overdue is not None else None,
    )
    beats = (await session.execute(queries["heartbeats"])).scalars().all()
    found.parts = parts(beats, policy=policy, now=now)
    found.problems += part_problems(found.parts, waiting=max_wait(waited, overdue), policy=policy)
    return found


def _seconds(delta: timedelta) -> float:
    return round(max(delta.total_seconds(), 0.0), 1)


def max_wait(*waits: timedelta | None) -> timedelta | None:
    known = [wait for wait in waits if wait is not None]
    return max(known) if known else None


def parts(
    beats: Iterable[Heartbeat], *, policy: HealthPolicy, now: datetime
) -> dict[str, PartState]:
    """Each part that beat within `policy.remembered`, with its processes, newest beat first."""
    by_part: dict[str, list[InstanceBeat]] = {}
    for row in sorted(beats, key=lambda row: row.beat_at, reverse=True):
        age = now - row.beat_at
        state = STOPPED if row.stopped_at is not None else LIVE if age <= policy.stale else STALE
        by_part.setdefault(row.part, []).append(
            InstanceBeat(
                instance=row.instance,
                version=row.version,
                started_at=row.started_at,
                beat_at=row.beat_at,
                age_seconds=_seconds(age),
                state=state,
            )
        )
    return {
        part: PartState(
            status=next((s for s in (LIVE, STALE) if any(i.state == s for i in rows)), STOPPED),
            last_beat_at=rows[0].beat_at,
            age_seconds=rows[0].age_seconds,
            instances=rows,
        )
        for part, rows in sorted(by_part.items())
    }


def part_problems(
    parts: dict[str, PartState], *, waiting: timedelta | None, policy: HealthPolicy
) -> list[str]:
    """A part none of whose processes beats though one did lately; and mail that waits past the
    grace while no worker beats (even one that never ran, or stopped cleanly)."""
    problems = []
    for name, part in parts.items():
        if part.status == STALE:
            stale = next(i for i in part.instances if i.state == STALE)
            problems.append(
                f"{name}: no heartbeat for {_minutes(timedelta(seconds=stale.age_seconds))} "
                f"(last from {stale.instance})"
            )
    worker = parts.get(Part.WORKER)
    if worker is None or worker.status == STOPPED:
        if waiting is not None and waiting > policy.grace:
            problems.append(
                f"worker: none is running and mail has waited {_minutes(waiting)} "
                "(start `synpunkt worker`)"
            )
    return problems
