"""The acknowledgements of the last day to a sender are read through an index, on both engines:
each intake batch asks, and the outbox only grows until gallring."""

from __future__ import annotations

from inbox.core.inbound import Channel
from inbox.intake.ack_rules import recent_acks_statement
from tests.conftest import Clock, Database
from tests.factories import query_plans


async def test_recent_acknowledgements_are_read_through_an_index(
    db: Database, clock: Clock
) -> None:
    statements = {
        "email": recent_acks_statement(Channel.EMAIL, {"a@example.org", "b@x.se"}, now=clock()),
        "telegram": recent_acks_statement(Channel.TELEGRAM, {"4711"}, now=clock()),
    }
    plans = await query_plans(db, statements)
    assert all("ix_outbox_kind_created" in plan for plan in plans.values()), plans
