"""`python -m tests.inbox.runners.crashing_worker DATABASE_URL NOW`: one worker run until nothing is left.

It parses in its own threads (no pool), as a worker with SYNPUNKT_PARSE_PROCESSES=0 does, so a
message whose parse kills the process (`die`, see `tests.inbox.runners.faulty_parser`) kills this worker:
the test runs it again and again, as a supervisor restarts a crashed worker. `NOW` (ISO 8601) is
its clock, so the test decides when the dead worker's leases have run out.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

from inbox.core.db import create_engine, session_factory
from inbox.intake.receive import IntakePolicy
from inbox.runners.intake_runner import IntakeRunner
from inbox.runners.outbox_runner import OutboxRunner
from inbox.runners.worker import Worker
from tests.inbox.runners import faulty_parser


async def run(url: str, now: datetime) -> None:
    engine = create_engine(url)
    try:
        worker = Worker(
            IntakeRunner(
                session_factory(engine),
                parsers={"email": faulty_parser.parse},
                policy=IntakePolicy(case_prefix="SP", mail_domain="synpunkt.example"),
                clock=lambda: now,
            ),
            OutboxRunner(session_factory(engine), senders={}, clock=lambda: now),
        )
        await worker.drain()
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], datetime.fromisoformat(sys.argv[2])))
