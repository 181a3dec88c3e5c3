"""Input the database cannot take is refused at the edge, with a 422 that says why.

PostgreSQL refuses NUL in any text value, even one that is only compared in a WHERE clause, and
neither backend can encode a lone surrogate: such text would otherwise fail deep inside a route,
as a 500 on one backend and a stored NUL on the other. Ids are INTEGER columns, and a larger number
would overflow the bind (PostgreSQL's INTEGER ends at 2**31 - 1, SQLite's at 2**63 - 1) instead of
matching nothing, so every id a request names is an `Id`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

from annotated_types import Ge, Le
from fastapi import Request
from fastapi.exceptions import RequestValidationError

MAX_ID = 2**31 - 1  # PostgreSQL's INTEGER, the narrowest id column
Id = Annotated[int, Ge(1), Le(MAX_ID)]
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_MESSAGE = "Value error, text must not contain NUL characters or lone surrogates"
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def parse_id(text: str) -> int | None:
    """The id written in `text` (ASCII digits, in range), or None."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


async def refuse_unstorable_text(request: Request) -> None:
    """A dependency of every router that takes input: 422 for text no database can store.

    Path and query parameters, JSON bodies (keys too) and form fields are all checked, so no route
    and no future field can forget it.
    """
    errors = [
        *_check("path", request.path_params.items()),
        *_check("query", request.query_params.multi_items()),
    ]
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            body = json.loads(await request.body())
        except (ValueError, RecursionError):
            body = None  # FastAPI reports a body that is not JSON
        errors += [_error(("body", *loc)) for loc in _unstorable_in(body, ())]
    elif content_type in _FORMS:
        form = await request.form()
        errors += _check("body", ((k, v) for k, v in form.multi_items() if isinstance(v, str)))
    if errors:
        raise RequestValidationError(errors)


def _check(where: str, items: Iterable[tuple[str, Any]]) -> Iterator[dict[str, Any]]:
    for name, value in items:
        if _UNSTORABLE.search(name) or (isinstance(value, str) and _UNSTORABLE.search(value)):
            yield _error((where, _printable(name)))


def _unstorable_in(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[str | int, ...]]:
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            yield loc
    elif isinstance(value, dict):
        for key, item in value.items():
            here = (*loc, _printable(key))
            if _UNSTORABLE.search(key):
                yield here
            else:
                yield from _unstorable_in(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unstorable_in(item, (*loc, index))


def _printable(name: str) -> str:
    # The error names the field, and a name with a lone surrogate could not even be encoded.
    return _UNSTORABLE.sub("\ufffd", name)


def _error(loc: tuple[str | int, ...]) -> dict[str, Any]:
    return {"type": "value_error", "loc": loc, "msg": _MESSAGE}
