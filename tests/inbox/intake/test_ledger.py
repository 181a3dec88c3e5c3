"""The intake ledger's claims: a count and byte budget per batch, a cap on claims, and rows that
were claimed before without finishing taken one at a time.

Everything goes through `ledger.record` and `ledger.claim_pending` on both backends.
"""

from __future__ import annotations

from inbox.core.db import unit_of_work
from inbox.core.models import IntakeRecord, IntakeStatus
from inbox.intake import ledger
from tests.conftest import Clock, Database

MB = 1024 * 1024


async def record(db: Database, clock: Clock, name: str, size: int = 100) -> int:
    async with unit_of_work(db.sessions) as session:
        row_id = await ledger.record(
            session, channel="email", external_id=name, raw=b"x" * size, now=clock()
        )
    assert row_id is not None
    clock.advance(seconds=1)  # keeps arrival order unambiguous
    return row_id


async def claim(
    db: Database, clock: Clock, *, limit: int = 50, max_bytes: int = 64 * MB, max_attempts: int = 3
) -> list[int]:
    async with unit_of_work(db.sessions) as session:
        rows = await ledger.claim_pending(
            session, now=clock(), limit=limit, max_bytes=max_bytes, max_attempts=max_attempts
        )
        return [row.id for row in rows if row.id is not None]


async def row(db: Database, row_id: int) -> IntakeRecord:
    async with db.sessions() as session:
        found = await session.get(IntakeRecord, row_id)
    assert found is not None
    return found


async def test_a_batch_stops_at_its_byte_budget_before_its_count(
    db: Database, clock: Clock
) -> None:
    ids = [await record(db, clock, f"big{n}", size=20 * MB) for n in range(10)]
    assert await claim(db, clock, limit=50, max_bytes=45 * MB) == ids[:2]
    assert await claim(db, clock, limit=50, max_bytes=45 * MB) == ids[2:4]


async def test_a_batch_stops_at_its_count_before_its_byte_budget(
    db: Database, clock: Clock
) -> None:
    ids = [await record(db, clock, f"small{n}") for n in range(5)]
    assert await claim(db, clock, limit=3, max_bytes=64 * MB) == ids[:3]


async def test_a_message_larger_than_the_budget_is_still_claimed_alone(
    db: Database, clock: Clock
) -> None:
    huge = await record(db, clock, "huge", size=3 * MB)
    small = await record(db, clock, "small")
    assert await claim(db, clock, max_bytes=1 * MB) == [huge]
    assert await claim(db, clock, max_bytes=1 * MB) == [small]


async def test_a_row_claimed_before_without_finishing_is_claimed_alone(
    db: Database, clock: Clock
) -> None:
    ids = [await record(db, clock, f"m{n}") for n in range(4)]
    assert await claim(db, clock) == ids  # a worker takes all four and dies
    clock.advance(seconds=ledger.LEASE.total_seconds() + 1)
    # Any of them may have killed it: each is tried on its own, so it counts against no other.
    assert [await claim(db, clock) for _ in range(4)] == [[i] for i in ids]
    assert [(await row(db, i)).attempts for i in ids] == [2, 2, 2, 2]


async def test_fresh_rows_are_batched_up_to_the_first_suspect_row(
    db: Database, clock: Clock
) -> None:
    suspect = await record(db, clock, "suspect")
    assert await claim(db, clock) == [suspect]
    clock.advance(seconds=ledger.LEASE.total_seconds() + 1)
    fresh = [await record(db, clock, f"f{n}") for n in range(3)]
    assert await claim(db, clock) == [suspect]
    assert await claim(db, clock) == fresh


async def test_a_row_claimed_the_maximum_number_of_times_is_failed_not_claimed_again(
    db: Database, clock: Clock
) -> None:
    poison = await record(db, clock, "poison")
    normal = await record(db, clock, "normal")
    for _ in range(3):
        assert (await claim(db, clock))[0] == poison
        clock.advance(seconds=ledger.LEASE.total_seconds() + 1)  # its worker died again
    assert await claim(db, clock) == [normal]
    failed = await row(db, poison)
    assert failed.status == IntakeStatus.FAILED and failed.attempts == 3
    assert failed.error == "gave up after 3 attempts" and failed.lease_until is None
    assert failed.processed_at == clock() and failed.raw == b"x" * 100


async def test_the_last_error_of_a_row_that_gave_up_is_kept_in_its_reason(
    db: Database, clock: Clock
) -> None:
    poison = await record(db, clock, "poison")
    for _ in range(2):
        await claim(db, clock, max_attempts=2)
        async with unit_of_work(db.sessions) as session:
            await ledger.note_error(session, poison, error="cannot store: IntegrityError")
        clock.advance(seconds=ledger.LEASE.total_seconds() + 1)
    assert await claim(db, clock, max_attempts=2) == []
    failed = await row(db, poison)
    assert failed.error == "gave up after 2 attempts; last: cannot store: IntegrityError"


async def test_a_released_row_is_claimed_again_at_once_without_using_an_attempt(
    db: Database, clock: Clock
) -> None:
    ids = [await record(db, clock, f"m{n}") for n in range(2)]
    assert await claim(db, clock) == ids
    async with unit_of_work(db.sessions) as session:
        await ledger.release(session, ids)
    assert await claim(db, clock) == ids  # batched again: releasing says it was not their fault
    assert [(await row(db, i)).attempts for i in ids] == [1, 1]


async def test_renewing_a_lease_keeps_a_row_from_other_workers(db: Database, clock: Clock) -> None:
    slow = await record(db, clock, "slow")
    assert await claim(db, clock) == [slow]
    clock.advance(seconds=ledger.LEASE.total_seconds() - 1)
    async with unit_of_work(db.sessions) as session:
        await ledger.renew_leases(session, [slow], now=clock())
    clock.advance(seconds=2)
    assert await claim(db, clock) == []
    clock.advance(seconds=ledger.LEASE.total_seconds())
    assert await claim(db, clock) == [slow]


async def test_a_lease_renewal_never_revives_a_finished_row(db: Database, clock: Clock) -> None:
    done = await record(db, clock, "done")
    await claim(db, clock)
    async with unit_of_work(db.sessions) as session:
        found = await session.get(IntakeRecord, done)
        assert found is not None
        ledger.mark_done(found, case_id=None, case_reference=None, now=clock())
    async with unit_of_work(db.sessions) as session:
        await ledger.renew_leases(session, [done], now=clock())
    assert (await row(db, done)).lease_until is None
