"""The intake ledger through the API: rows of one status, newest first, paged with `before`."""

from __future__ import annotations

import httpx

from inbox.core.db import unit_of_work
from inbox.core.models import IntakeStatus
from inbox.intake import ledger
from tests.inbox.web.conftest import ApiFor, World


async def _rows(world: World, status: IntakeStatus, count: int) -> list[int]:
    ids = []
    async with unit_of_work(world.db.sessions) as session:
        for n in range(count):
            row_id = await ledger.record(
                session,
                channel="email",
                external_id=f"{status}-{n}@example.se",
                raw=b"Subject: \xff\r\n\r\nnot readable",
                now=world.clock.advance(minutes=1),
                status=status,
            )
            assert row_id is not None
            ids.append(row_id)
    return ids


def _next(response: httpx.Response) -> str | None:
    link = response.headers.get("link")
    if link is None:
        return None
    url, rel = link.split(";")
    assert rel.strip() == 'rel="next"' and url.startswith("<") and url.endswith(">")
    return url[1:-1]


async def test_failed_rows_are_paged_newest_first_through_the_link_header(
    world: World, api_for: ApiFor
) -> None:
    failed = await _rows(world, IntakeStatus.FAILED, 5)
    await _rows(world, IntakeStatus.PENDING, 2)
    api = await api_for("registrar", [])
    pages: list[list[int]] = []
    url: str | None = "/api/intake?status=failed&limit=2"
    while url is not None:
        response = await api.get(url)
        assert response.status_code == 200
        pages.append([row["id"] for row in response.json()])
        url = _next(response)
        assert url is None or ("status=failed" in url and "limit=2" in url)
    newest = failed[::-1]
    assert pages == [newest[:2], newest[2:4], newest[4:]]


async def test_a_page_that_is_the_last_has_no_link(world: World, api_for: ApiFor) -> None:
    failed = await _rows(world, IntakeStatus.FAILED, 2)
    api = await api_for("registrar", [])
    response = await api.get("/api/intake", params={"limit": 2})
    assert [row["id"] for row in response.json()] == failed[::-1]
    assert "link" not in response.headers
    older = await api.get("/api/intake", params={"before": failed[-1]})
    assert [row["id"] for row in older.json()] == failed[:1]
