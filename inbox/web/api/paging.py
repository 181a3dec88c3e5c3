"""One way to page every list of the API: `?cursor=…&limit=…`, answered `{"items", "next_cursor"}`.

A cursor is opaque to the client: the URL-safe base64 of the last row's sort key and id, so the
next page starts after that row however many rows were added meanwhile, and nothing is shown
twice. The cases list has its own cursor with the same properties (`inbox.cases.queries.
encode_cursor`: it carries a search's score too); the lists ordered by id alone (intake, audit)
and the open tasks use the ones here. The database pages the cases, intake and audit lists (page
1,000 costs what page 1 costs); the open tasks, at most `inbox.cases.tasks.MAX_LIST`, are read in
one query and paged here. A cursor that is not one of ours is a 400.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import HTTPException, Query, status

from inbox.web.inputs import parse_id

MAX_CURSOR = 200

Limit = Annotated[int, Query(ge=1, le=200, description="At most this many items")]
# No length limit here: a cursor too long to be ours is a 400 like any other that is not ours.
Cursor = Annotated[
    str | None, Query(description="`next_cursor` of the page before (absent: the first)")
]


def encode_cursor(*key: str | int) -> str:
    """The cursor for a position: its sort key and id, in order."""
    raw = "|".join(str(part) for part in key)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, parts: int) -> list[str]:
    """The `parts` fields of an `encode_cursor` cursor; 400 for anything else."""
    if len(cursor) > MAX_CURSOR:
        raise invalid_cursor()
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode("ascii")
    except (ValueError, binascii.Error) as exc:
        raise invalid_cursor() from exc
    fields = raw.split("|")
    if len(fields) != parts:
        raise invalid_cursor()
    return fields


def id_cursor(row_id: int | None) -> str | None:
    """The cursor after the row with this id, for lists ordered by id (None: no next page)."""
    return None if row_id is None else encode_cursor(row_id)


def cursor_id(cursor: str | None) -> int | None:
    """The row id an `id_cursor` names (None for the first page); 400 for anything else."""
    if cursor is None:
        return None
    [text] = decode_cursor(cursor, 1)
    return parse_cursor_id(text)


def parse_cursor_id(text: str) -> int:
    row_id = parse_id(text)
    if row_id is None or str(row_id) != text:
        raise invalid_cursor()
    return row_id


def invalid_cursor() -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, detail="invalid cursor")
