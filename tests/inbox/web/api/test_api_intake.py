"""The intake ledger through the API: rows of one status, newest first, paged with a cursor that
holds its place while new rows arrive; an unknown status is refused, not answered empty."""

from __future__ import annotations

from inbox.core.db import unit_of_work
from inbox.core.models import IntakeStatus
from inbox.intake import ledger
from tests.inbox.web.conftest import ApiFor, World


async def _rows(world: World, status: IntakeStatus, count: int, first: int = 0) -> list[int]:
    ids = []
    async with unit_of_work(world.db.sessions) as session:
        for n in range(first, first + count):
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


async def test_failed_rows_are_paged_newest_first_by_cursor_and_new_rows_do_not_shift_pages(
    world: World, api_for: ApiFor
) -> None:
    failed = await _rows(world, IntakeStatus.FAILED, 5)
    await _rows(world, IntakeStatus.PENDING, 2)
    api = await api_for("registrar", [])
    pages: list[list[int]] = []
    params: dict[str, str | int] = {"status": "failed", "limit": 2}
    while True:
        response = await api.get("/api/intake", params=params)
        assert response.status_code == 200
        body = response.json()
        pages.append([row["id"] for row in body["items"]])
        if len(pages) == 1:
            await _rows(world, IntakeStatus.FAILED, 3, first=5)  # newer rows, after page one
        if body["next_cursor"] is None:
            break
        assert str(pages[-1][-1]) not in body["next_cursor"]  # opaque, not the id itself
        params["cursor"] = body["next_cursor"]
    newest = failed[::-1]
    assert pages == [newest[:2], newest[2:4], newest[4:]]


async def test_the_last_page_has_no_cursor_and_a_forged_cursor_is_a_400(
    world: World, api_for: ApiFor
) -> None:
    failed = await _rows(world, IntakeStatus.FAILED, 2)
    api = await api_for("registrar", [])
    response = await api.get("/api/intake", params={"limit": 2})
    assert [row["id"] for row in response.json()["items"]] == failed[::-1]
    assert response.json()["next_cursor"] is None
    for forged in (str(failed[-1]), "!!!", "MHwx", "MA"):  # not base64, two fields, id 0
        refused = await api.get("/api/intake", params={"cursor": forged})
        assert refused.status_code == 400, forged
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["detail"] == "invalid cursor"


async def test_an_unknown_status_is_a_400_in_problem_details(world: World, api_for: ApiFor) -> None:
    await _rows(world, IntakeStatus.FAILED, 1)
    api = await api_for("registrar", [])
    response = await api.get("/api/intake", params={"status": "bogus"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "unknown status 'bogus'; known: pending, done, failed",
        "instance": "/api/intake",
    }
    for status in IntakeStatus:
        assert (await api.get("/api/intake", params={"status": status})).status_code == 200


async def test_a_raw_row_is_served_as_the_mail_it_was(world: World, api_for: ApiFor) -> None:
    [row] = await _rows(world, IntakeStatus.FAILED, 1)
    api = await api_for("registrar", [])
    raw = await api.get(f"/api/intake/{row}/raw")
    assert raw.status_code == 200 and raw.content == b"Subject: \xff\r\n\r\nnot readable"
    assert raw.headers["content-type"] == "message/rfc822"
    assert raw.headers["content-disposition"] == f'attachment; filename="intake-{row}.eml"'
