"""The acknowledgements of the last day to a sender are read through an index, on both engines:
each intake batch asks, and the outbox only grows until gallring."""

from __future__ import annotations

from sqlalchemy import text

from inbox.core.inbound import Channel
from inbox.intake.ack_rules import recent_acks_statement
from tests.conftest import Clock, Database


async def test_recent_acknowledgements_are_read_through_an_index(
    db: Database, clock: Clock
) -> None:
    statements = {
        "email": recent_acks_statement(Channel.EMAIL, {"a@example.org", "b@x.se"}, now=clock()),
        "telegram": recent_acks_statement(Channel.TELEGRAM, {"4711"}, now=clock()),
    }
    plans = {}
    async with db.engine.connect() as connection:
        if db.backend == "postgresql":
            # An empty table: without this the planner would rightly scan it anyway.
            await connection.execute(text("SET enable_seqscan = off"))
        explain = "EXPLAIN QUERY PLAN " if db.backend == "sqlite" else "EXPLAIN "
        for name, statement in statements.items():
            sql = statement.compile(
                dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}
            )
            rows = (await connection.execute(text(explain + str(sql)))).all()
            plans[name] = " / ".join(str(row[-1]) for row in rows)
    assert all("ix_outbox_kind_created" in plan for plan in plans.values()), plans
