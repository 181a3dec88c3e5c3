"""The archive export: closed cases of a period with their originals, attachments, metadata and
audit trail, a manifest of checksums that verifies, a changed byte that does not, exported cases
marked, and an export run again that writes the same bytes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select

from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.models import AuditEvent, Case
from inbox.records import archive
from tests.conftest import Clock, Database
from tests.factories import synpunkt
from tests.inbox.records.conftest import make_case, raw_mail

ACTOR = Actor(name="cli:arkivarie")


def _at(month: int, day: int) -> datetime:
    return datetime(2025, month, day, 10, tzinfo=UTC)


async def _export(db: Database, clock: Clock, out: Path) -> archive.ExportReport:
    async with unit_of_work(db.sessions) as session:
        return await archive.export_period(
            session,
            start=date(2025, 1, 1),
            end=date(2025, 6, 30),
            out=out,
            actor=ACTOR,
            now=clock(),
        )


async def test_an_export_holds_each_closed_case_of_the_period_and_verifies(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    first = await make_case(db, clock, 1, sender="a@example.se", at=_at(2, 1), closed_at=_at(2, 9))
    second = await make_case(db, clock, 2, sender="b@example.se", at=_at(3, 1), closed_at=_at(4, 1))
    await make_case(db, clock, 3, sender="c@example.se", at=_at(3, 2))  # open: not yet
    await make_case(db, clock, 4, sender="d@example.se", at=_at(8, 1), closed_at=_at(8, 2))
    clock.now = _at(9, 1)
    out = tmp_path / "arkiv"

    report = await _export(db, clock, out)

    assert report.references == [first.reference, second.reference]
    assert report.newly_marked == 2
    folder = out / first.reference
    assert (folder / "messages" / "0001.eml").read_bytes() == raw_mail(1, "a@example.se")
    assert (folder / "attachments" / "0001-01-bilaga_1.pdf").read_bytes() == b"%PDF-\x01"
    meta = json.loads((folder / "case.json").read_text(encoding="utf-8"))
    assert meta["reference"] == first.reference
    assert meta["unit"]["code"] == "vuxen"
    assert meta["status"] == "closed" and meta["outcome"] == "answered"
    assert meta["messages"][0]["original"] is True
    assert meta["messages"][0]["attachments"][0]["file"] == "attachments/0001-01-bilaga_1.pdf"
    trail = json.loads((folder / "audit.json").read_text(encoding="utf-8"))
    assert "case.update" in {event["action"] for event in trail}
    listed = (out / archive.MANIFEST).read_text(encoding="utf-8")
    assert f"  {first.reference}/case.json\n" in listed
    assert archive.verify(out) == []
    async with db.sessions() as session:
        marked = {
            c.reference: c.archived_at for c in (await session.execute(select(Case))).scalars()
        }
        runs = (
            (
                await session.execute(
                    select(AuditEvent).where(AuditEvent.action == "archive.exported")
                )
            )
            .scalars()
            .all()
        )
    assert marked[first.reference] == _at(9, 1) and marked[second.reference] == _at(9, 1)
    assert sum(1 for when in marked.values() if when is not None) == 2
    assert [(r.actor, r.detail["cases"]) for r in runs] == [("cli:arkivarie", 2)]


async def test_an_export_run_again_writes_the_same_bytes_and_keeps_the_first_mark(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    case = await make_case(db, clock, 1, sender="a@example.se", at=_at(2, 1), closed_at=_at(2, 9))
    clock.now = _at(9, 1)
    out = tmp_path / "arkiv"
    await _export(db, clock, out)
    manifest = (out / archive.MANIFEST).read_bytes()
    clock.now = _at(10, 1)

    again = await _export(db, clock, out)

    assert again.newly_marked == 0
    assert (out / archive.MANIFEST).read_bytes() == manifest
    async with db.sessions() as session:
        stored = await session.get(Case, case.id)
        assert stored is not None and stored.archived_at == _at(9, 1)


async def test_a_changed_byte_a_missing_file_or_an_unlisted_file_fails_verification(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    case = await make_case(db, clock, 1, sender="a@example.se", at=_at(2, 1), closed_at=_at(2, 9))
    out = tmp_path / "arkiv"
    await _export(db, clock, out)
    attachment = out / case.reference / "attachments" / "0001-01-bilaga_1.pdf"
    data = bytearray(attachment.read_bytes())
    data[-1] ^= 0x01
    attachment.write_bytes(bytes(data))

    assert archive.verify(out) == [
        f"{case.reference}/attachments/0001-01-bilaga_1.pdf: checksum differs"
    ]

    (out / case.reference / "audit.json").unlink()
    (out / "extra.txt").write_text("x")
    problems = archive.verify(out)
    assert f"{case.reference}/audit.json: missing" in problems
    assert "extra.txt: not in the manifest" in problems


def test_archive_verify_on_the_command_line_exits_1_on_a_changed_byte(tmp_path: Path) -> None:
    out = tmp_path / "arkiv"
    (out / "SP-2025-0001").mkdir(parents=True)
    (out / "SP-2025-0001" / "case.json").write_bytes(b'{"reference": "SP-2025-0001"}\n')
    archive.write_manifest(out)
    ok = synpunkt(tmp_path, "archive", "verify", str(out))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (out / "SP-2025-0001" / "case.json").write_bytes(b'{"reference": "SP-2025-0002"}\n')
    bad = synpunkt(tmp_path, "archive", "verify", str(out))
    assert bad.returncode == 1
    assert "SP-2025-0001/case.json: checksum differs" in bad.stdout
