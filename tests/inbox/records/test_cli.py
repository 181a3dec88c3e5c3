"""`synpunkt hold` and `synpunkt rights-request` on a case, as an operator runs them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from inbox.core.db import create_engine, session_factory
from inbox.core.models import AuditEvent, Case, RightsRequest
from tests.conftest import Clock, Database
from tests.factories import mail, synpunkt, take


async def test_hold_and_a_refused_erasure_on_the_command_line(tmp_path: Path) -> None:
    assert synpunkt(tmp_path, "db", "upgrade").returncode == 0
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    engine = create_engine(url)
    try:
        receipt = await take(Database(url, engine, session_factory(engine)), mail(1), Clock())
        async with session_factory(engine)() as session:
            case = await session.get(Case, receipt.case_id)
            assert case is not None
            reference = case.reference

        held = synpunkt(tmp_path, "hold", reference.lower(), "--reason", "Tvist", "--actor", "reg")
        assert held.returncode == 0, held.stderr
        assert held.stdout.strip() == f"{reference} is under legal hold"
        erasure = synpunkt(
            tmp_path,
            "rights-request",
            reference,
            "--kind",
            "erasure",
            "--by",
            "Anna",
            "--request",
            "Radera mitt mejl.",
            SYNPUNKT_ORGANISATION_NAME="Socialnämnden i Exempelby",
        )
        assert erasure.returncode == 0, erasure.stderr
        assert "artikel 17.3 b" in erasure.stdout and "Socialnämnden i Exempelby" in erasure.stdout
        missing = synpunkt(tmp_path, "hold", "SP-1999-0001", "--remove")
        assert missing.returncode == 2 and "no case SP-1999-0001" in missing.stderr

        async with session_factory(engine)() as session:
            stored = await session.get(Case, receipt.case_id)
            assert stored is not None and stored.hold_reason == "Tvist"
            assert stored.hold_by == "cli:reg"
            kinds = (await session.execute(select(RightsRequest.kind))).scalars().all()
            actions = (
                (
                    await session.execute(
                        select(AuditEvent.action).where(AuditEvent.case_id == receipt.case_id)
                    )
                )
                .scalars()
                .all()
            )
        assert kinds == ["erasure"]
        assert {"case.hold", "case.rights_request"} <= set(actions)
    finally:
        await engine.dispose()
