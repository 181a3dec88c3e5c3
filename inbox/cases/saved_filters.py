"""Saved filters of the inbox list: a user keeps a filter set under a name ("Mina försenade") and
opens it again with one link.

Only the parameters the list itself understands (`FILTER_KEYS`) are kept, each checked against what
the list accepts, so a saved filter never carries anything else into the list's URL. Every function
takes the user it works for: a user never lists, opens or deletes another user's filter (another
user's filter is "not found", like one that does not exist).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.queries import SORTS, UNASSIGNED, CaseFilter, InvalidFilter, check_filter
from inbox.core.models import SavedFilter, StaffUser, Unit

# The list's filter parameters, in the order its URL carries them (`inbox.web.pages.cases`).
FILTER_KEYS = (
    "q", "status", "kind", "unit", "channel", "assignee", "overdue", "flag", "view", "sort",
)  # fmt: skip
# The list's second view: machine mail beside the inbox (`Case.flag_automated`).
MACHINE_VIEW = "maskinpost"
VIEWS = ("", MACHINE_VIEW)
MINE = "mine"  # the assignee filter for the signed-in user, whoever that is
NAME_LENGTH = 60
MAX_PER_USER = 30
MAX_QUERY = 200
INVALID = "Filtret har ett ogiltigt värde."


class FilterError(ValueError):
    """A filter that cannot be saved; `swedish` is what the user reads."""

    def __init__(self, message: str, *, swedish: str) -> None:
        super().__init__(message)
        self.swedish = swedish


async def clean_params(session: AsyncSession, raw: Mapping[str, str]) -> dict[str, str]:
    """The filter parameters of `raw` that the list understands, checked; the rest is dropped.

    Raises `FilterError` for a value the list would refuse and when nothing is left to save."""
    values = {k: str(raw.get(k, "")).strip() for k in FILTER_KEYS}
    params = {k: v for k, v in values.items() if v}

    def refuse(key: str) -> FilterError:
        return FilterError(f"invalid {key}", swedish=INVALID)

    try:  # the values every list checks, checked by the same rule
        check_filter(
            CaseFilter(
                status=params.get("status"),
                kind=params.get("kind"),
                channel=params.get("channel"),
                flags=(params["flag"],) if "flag" in params else (),
            )
        )
    except InvalidFilter as exc:
        raise FilterError(str(exc), swedish=INVALID) from exc
    if "sort" in params and params["sort"] not in SORTS:
        raise refuse("sort")
    if "view" in params and params["view"] not in VIEWS:
        raise refuse("view")
    if "overdue" in params and params["overdue"] != "1":
        raise refuse("overdue")
    if len(params.get("q", "")) > MAX_QUERY:
        raise refuse("q")
    if "unit" in params:
        found = await session.execute(select(col(Unit.id)).where(col(Unit.code) == params["unit"]))
        if found.first() is None:
            raise refuse("unit")
    assignee = params.get("assignee")
    if assignee is not None and assignee not in (MINE, UNASSIGNED):
        found = await session.execute(
            select(col(StaffUser.id)).where(col(StaffUser.username) == assignee)
        )
        if found.first() is None:
            raise refuse("assignee")
    if not params:
        raise FilterError(
            "nothing to save", swedish="Välj minst ett filter i listan innan du sparar det."
        )
    return params


def clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise FilterError("no name", swedish="Ge filtret ett namn.")
    if len(cleaned) > NAME_LENGTH:
        raise FilterError(
            "name too long", swedish=f"Namnet får vara högst {NAME_LENGTH} tecken långt."
        )
    return cleaned


async def saved_filters(session: AsyncSession, *, user: StaffUser) -> list[SavedFilter]:
    """The user's own saved filters, by name."""
    rows = await session.execute(
        select(SavedFilter)
        .where(col(SavedFilter.user_id) == user.id)
        .order_by(col(SavedFilter.name), col(SavedFilter.id))
    )
    return list(rows.scalars())


async def save_filter(
    session: AsyncSession,
    *,
    user: StaffUser,
    name: str,
    raw: Mapping[str, str],
    now: datetime,
) -> tuple[SavedFilter, bool]:
    """Saves the list's filter parameters in `raw` under `name` for `user`; a filter of the same
    name is replaced. The filter and whether it is new."""
    cleaned = clean_name(name)
    params = await clean_params(session, raw)
    existing = (
        await session.execute(
            select(SavedFilter).where(
                col(SavedFilter.user_id) == user.id, col(SavedFilter.name) == cleaned
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        existing.params = params
        await session.flush()
        return existing, False
    if len(await saved_filters(session, user=user)) >= MAX_PER_USER:
        raise FilterError(
            "too many saved filters",
            swedish=f"Du kan spara högst {MAX_PER_USER} filter. Ta bort något först.",
        )
    assert user.id is not None
    saved = SavedFilter(user_id=user.id, name=cleaned, params=params, created_at=now)
    session.add(saved)
    await session.flush()
    return saved, True


async def delete_filter(session: AsyncSession, *, user: StaffUser, filter_id: int) -> str | None:
    """Deletes the user's own filter; its name, or None when the user has no such filter (another
    user's filter is left alone and answered the same way)."""
    saved = (
        await session.execute(
            select(SavedFilter).where(
                col(SavedFilter.id) == filter_id, col(SavedFilter.user_id) == user.id
            )
        )
    ).scalar_one_or_none()
    if saved is None:
        return None
    await session.delete(saved)
    await session.flush()
    return saved.name
