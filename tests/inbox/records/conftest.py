"""What the records tests build: cases from people at set times, closed or not, with originals
and attachments, so a history spanning years can be generated in a few lines."""

from __future__ import annotations

from datetime import datetime

from inbox.cases.triage import update_case
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.inbound import InboundAttachment
from inbox.core.models import Case
from tests.conftest import Clock, Database
from tests.factories import mail, take

SYSTEM = Actor(name="system")


def raw_mail(n: int, sender: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: synpunkt@synpunkt.example\r\nSubject: Synpunkt {n}\r\n"
        f"Message-ID: <m{n}@example.se>\r\n\r\nHej! Jag vill l\xe4mna en synpunkt.\r\n"
    ).encode("latin-1")


async def make_case(
    db: Database,
    clock: Clock,
    n: int,
    *,
    sender: str,
    at: datetime,
    closed_at: datetime | None = None,
    unit: str = "vuxen",
    **kwargs: object,
) -> Case:
    """Case `n` from `sender`, received at `at` with an original and one attachment; closed as
    answered at `closed_at` when given."""
    clock.now = at
    fields: dict[str, object] = {
        "raw": raw_mail(n, sender),
        "attachments": [
            InboundAttachment(
                filename=f"bilaga {n}.pdf",
                content_type="application/pdf",
                data=b"%PDF-" + bytes([n]),
            )
        ],
        **kwargs,
    }
    receipt = await take(db, mail(n, sender=sender, **fields), clock)
    async with unit_of_work(db.sessions) as session:
        case = await session.get(Case, receipt.case_id)
        assert case is not None
        await update_case(
            session, oidc=False, case=case, changes={"unit": unit}, actor=SYSTEM, now=at
        )
        if closed_at is not None:
            await update_case(
                session,
                oidc=False,
                case=case,
                changes={"status": "closed", "outcome": "answered"},
                actor=SYSTEM,
                now=closed_at,
            )
    return case
