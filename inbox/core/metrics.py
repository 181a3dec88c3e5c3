"""What this process counts for Prometheus: one registry per process, and the metrics in it.

A counter is counted where its event is decided (the ledger write of a received message, the
opening of a case, the outcome of a send), by whichever part of this process decided it. The parts
of one process share `METRICS`: `synpunkt serve` runs them all in one process, and its `/metrics`
shows everything; each part run alone (`synpunkt worker`, `smtp`, `imap`, `bot`) counts its own
events and shows them on SYNPUNKT_METRICS_LISTEN. Prometheus adds up the processes.

A count is made when the event is decided, inside its transaction: should that transaction then
fail (rare; the sender retries, the worker claims the row again), the event has been counted
once more than it happened. Metrics are for rates and trends; the database has the exact truth.

The registry is our own, not `prometheus_client.REGISTRY`: nothing a library registers there by
itself ends up on `/metrics`, and the metrics are made once per process, so the many apps a test
run builds in one process share them instead of registering them twice. Tests read a counter before
and after what they do.

What the database holds (the backlog of intake and outbox) is read at scrape time instead, by the
one who scrapes (`backlog`): those are facts of the installation, not of a process. Who may scrape
is `MetricsAccess`'s to say.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.core.models import IntakeRecord, IntakeStatus, OutboxItem, OutboxStatus

# Seconds: from a quick page to a slow batch of many messages.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """The metrics of one process, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.received = Counter(
            "synpunkt_messages_received",
            "Messages received and recorded in the intake ledger (redeliveries not counted)",
            ["channel"],
            registry=self.registry,
        )
        self.checkin_answers = Counter(
            "synpunkt_checkin_answers",
            "Check-ins answered (at least one new answer), by where: web, telegram or email",
            ["via"],
            registry=self.registry,
        )
        self.cases_opened = Counter(
            "synpunkt_cases_opened",
            "Cases opened, by the channel that brought them, how they were opened and their kind",
            ["channel", "origin", "kind"],
            registry=self.registry,
        )
        self.intake_failed = Counter(
            "synpunkt_intake_failed",
            "Received messages that could not be parsed or stored, kept raw for staff",
            ["channel"],
            registry=self.registry,
        )
        self.outbox_results = Counter(
            "synpunkt_outbox_results",
            "Outcomes of sends: sent, retry (a temporary failure), failed (given up) or cancelled",
            ["kind", "result"],
            registry=self.registry,
        )
        self.signin_failures = Counter(
            "synpunkt_signin_failures",
            "Refused sign-ins: wrong (name or password), throttled, or oidc-<reason> (the"
            " organisation's sign-in: unknown-user, invalid, provider, …)",
            ["reason"],
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "synpunkt_worker_batch_seconds",
            "How long the worker's rounds that handled something took (outbox: the claim)",
            ["runner"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.http_seconds = Histogram(
            "synpunkt_http_request_duration_seconds",
            "HTTP requests by route template (never the path itself), method and status",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

    def batch_done(self, runner: str, started: float, handled: int) -> None:
        """A worker round that began at `started` (`time.perf_counter()`): observed when it
        handled something; the idle rounds between messages would only drown the real ones."""
        if handled:
            self.batch_seconds.labels(runner).observe(time.perf_counter() - started)


METRICS = Metrics()


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class MetricsAccess:
    """Who may read the metrics: whoever has `token`, and any address in `networks`."""

    token: str | None = None
    networks: Sequence[Network] = field(default_factory=tuple)

    @property
    def on(self) -> bool:
        return bool(self.token) or bool(self.networks)

    def refusal(self, client: str | None, authorization: str | None) -> int | None:
        """The status that refuses this request (404 off, 401 no or wrong token, 403 outside the
        networks), or None to answer it."""
        if not self.on:
            return 404
        if client is not None and self.networks:
            try:
                address = ipaddress.ip_address(client)
            except ValueError:
                address = None
            if address is not None and any(address in net for net in self.networks):
                return None
        if self.token:
            scheme, _, given = (authorization or "").partition(" ")
            right = scheme.lower() == "bearer" and secrets.compare_digest(
                given.strip().encode(), self.token.encode()
            )
            return None if right else 401
        return 403

    @classmethod
    def of(cls, token: str | None, networks: Sequence[str]) -> MetricsAccess:
        """From the settings: the token, and the networks as addresses or CIDRs."""
        return cls(
            token=token or None,
            networks=tuple(ipaddress.ip_network(net, strict=False) for net in networks),
        )


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits in the database: pending intake rows and sends, and how long the oldest has."""

    intake_pending: int
    intake_oldest_seconds: float
    outbox_pending: int
    outbox_oldest_due_seconds: float


async def backlog(session: AsyncSession, *, now: datetime) -> Backlog:
    """Two indexed queries (`ix_intake_status`, `ix_outbox_due`): COUNT and MIN under the status.

    The outbox's age is how long the oldest pending send has been due (0 while every one is
    planned for later, as retries are): a send is late from its `run_at`, not from its queueing.
    """
    intake_count, intake_oldest = (
        await session.execute(
            select(func.count(), func.min(col(IntakeRecord.received_at))).where(
                col(IntakeRecord.status) == IntakeStatus.PENDING
            )
        )
    ).one()
    outbox_count, outbox_oldest = (
        await session.execute(
            select(func.count(), func.min(col(OutboxItem.run_at))).where(
                col(OutboxItem.status) == OutboxStatus.PENDING
            )
        )
    ).one()
    return Backlog(
        intake_pending=int(intake_count),
        intake_oldest_seconds=_age(intake_oldest, now),
        outbox_pending=int(outbox_count),
        outbox_oldest_due_seconds=_age(outbox_oldest, now),
    )


def _age(oldest: datetime | None, now: datetime) -> float:
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:  # SQLite hands back naive UTC
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - oldest).total_seconds())
