"""`synpunkt db upgrade`, `downgrade`, `current` and `history`: an upgrade never goes back, and
every migration can be undone and done again on both databases."""

from __future__ import annotations

import asyncio

import pytest

from inbox.cli.main import main
from inbox.core.migrate import current, downgrade, head, history, upgrade
from tests.conftest import Database


def out(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    captured = capsys.readouterr()
    return captured.out.strip(), captured.err.strip()


@pytest.mark.usefixtures("env")
def test_an_upgrade_to_an_older_revision_is_refused_and_names_the_downgrade(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["db", "upgrade"]) == 0
    assert out(capsys)[0] == f"database is at revision {head()}"
    older = history()[2].id
    assert main(["db", "upgrade", older]) == 2
    err = out(capsys)[1]
    assert f"is newer than {older}" in err and f"synpunkt db downgrade {older}" in err
    assert main(["db", "current"]) == 0
    assert out(capsys)[0] == head()  # nothing changed


@pytest.mark.usefixtures("env")
def test_an_unknown_revision_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "0404_nonsense"]) == 2
    assert "unknown revision '0404_nonsense'" in out(capsys)[1]
    assert main(["db", "current"]) == 0
    assert out(capsys)[0].startswith("no revision (an empty database)")


@pytest.mark.usefixtures("env")
def test_downgrade_current_and_history_show_where_the_database_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    revisions = [one.id for one in history()]
    assert main(["db", "upgrade"]) == 0 and main(["db", "downgrade", revisions[-3]]) == 0
    assert out(capsys)[0].endswith(f"database is at revision {revisions[-3]}")
    assert main(["db", "current"]) == 0
    assert (
        out(capsys)[0]
        == f"{revisions[-3]} (the newest is {revisions[-1]}: run `synpunkt db upgrade`)"
    )
    assert main(["db", "history"]) == 0
    lines = out(capsys)[0].splitlines()
    assert [line.split()[0] for line in lines] == revisions
    assert [line for line in lines if line.endswith("<- the database")] == [lines[-3]]
    assert main(["db", "downgrade", revisions[-1]]) == 2  # forward is upgrade's
    assert "use `synpunkt db upgrade`" in out(capsys)[1]


async def test_every_migration_can_be_undone_and_done_again(db: Database) -> None:
    await db.engine.dispose()  # no pooled connection holds a table the downgrade drops
    assert await asyncio.to_thread(downgrade, db.url, "base") == "base"
    assert await asyncio.to_thread(current, db.url) is None
    assert await asyncio.to_thread(upgrade, db.url) == head()
    assert await asyncio.to_thread(current, db.url) == head()
