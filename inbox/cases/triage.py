"""Triage: changing a case's kind, unit, submitter role, priority, assignee, flags and status,
its ärendemening and what happened (`registry`), and moving machine mail into the inbox.

`update_case` is the one way pages and the API change these fields. It validates everything before
it writes anything, writes only what changed, records each change (before → after) in the audit
trail and recomputes the due date when the unit changes. Closing needs an outcome; reopening clears
it. Setting an escalation flag (lex Sarah, child at risk, decision not executed, appeal intent)
opens its task (`inbox.cases.tasks`): a flag is not left to change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.access import kept_from, may_be_assigned, may_sign_in, scope_for_user
from inbox.cases.notifications import record_assigned
from inbox.cases.opening import due_date
from inbox.cases.registry import EVENT_FIELDS, RegistryError, clean_event, clean_title
from inbox.cases.tasks import open_flag_tasks
from inbox.core.audit import Actor, audit
from inbox.core.models import (
    Case,
    CaseKind,
    CaseStatus,
    Outcome,
    StaffUser,
    SubmitterRole,
    Unit,
)

PRIORITIES = ("low", "normal", "high", "urgent")
TRIAGE_FLAGS = ("lex_sarah", "child_at_risk", "decision_not_executed", "appeal_intent")
FIELDS = frozenset(
    {"kind", "unit", "submitter_role", "priority", "assignee", "flags", "status", "outcome"}
    | {"registry_title", *EVENT_FIELDS}
)
# What the sender may say about their own case (the Telegram bot's questions), under the same
# rules as a change by staff, and recorded in the audit trail as their classification.
SENDER_FIELDS = frozenset({"kind", "unit", "submitter_role", "wants_reply"})


class TriageError(ValueError):
    """A change that cannot be made, with a message that names the field (English, for the API)
    and, where staff can meet it on a page, the same in Swedish (`swedish`)."""

    def __init__(self, field: str, message: str, *, swedish: str | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.swedish = swedish


def _choice(field: str, value: Any, allowed: Any) -> str:
    values = [str(v) for v in allowed]
    if not isinstance(value, str) or value not in values:
        raise TriageError(field, f"must be one of {', '.join(values)}")
    return value


async def _validated(
    session: AsyncSession, changes: Mapping[str, Any], fields: frozenset[str]
) -> dict[str, Any]:
    """Case attribute → new value, for every requested change; raises before anything is written."""
    unknown = set(changes) - fields
    if unknown:
        raise TriageError(sorted(unknown)[0], "unknown field")
    values: dict[str, Any] = {}
    if "wants_reply" in changes:
        if not isinstance(changes["wants_reply"], bool):
            raise TriageError("wants_reply", "must be true or false")
        values["wants_reply"] = changes["wants_reply"]
    if "kind" in changes:
        values["kind"] = _choice("kind", changes["kind"], CaseKind)
    if "submitter_role" in changes:
        values["submitter_role"] = _choice(
            "submitter_role", changes["submitter_role"], SubmitterRole
        )
    if "priority" in changes:
        values["priority"] = _choice("priority", changes["priority"], PRIORITIES)
    if "status" in changes:
        values["status"] = _choice("status", changes["status"], CaseStatus)
    if "outcome" in changes and changes["outcome"] is not None:
        values["outcome"] = _choice("outcome", changes["outcome"], Outcome)
    elif "outcome" in changes:
        values["outcome"] = None
    if "unit" in changes:
        code = changes["unit"]
        if code is None:
            values["unit_id"] = None
        else:
            unit = (
                await session.execute(select(Unit).where(col(Unit.code) == code))
            ).scalar_one_or_none()
            if unit is None or not unit.active:
                raise TriageError(
                    "unit", f"no active unit {code!r}", swedish="Verksamheten finns inte längre."
                )
            values["unit_id"] = unit.id
    if "assignee" in changes:
        name = changes["assignee"]
        if name is None:
            values["assignee_id"] = None
        else:
            user = (
                await session.execute(select(StaffUser).where(col(StaffUser.username) == name))
            ).scalar_one_or_none()
            if user is None or not user.active:
                raise TriageError(
                    "assignee",
                    f"no active staff user {name!r}",
                    swedish="Handläggaren finns inte eller är inte längre aktiv.",
                )
            values["assignee_id"] = user.id
    for name in ("registry_title", *EVENT_FIELDS):
        if name in changes:
            try:
                values[name] = (
                    clean_title(changes[name])
                    if name == "registry_title"
                    else clean_event(name, changes[name])
                )
            except RegistryError as exc:
                raise TriageError(name, str(exc)) from exc
    if "flags" in changes:
        flags = changes["flags"]
        if not isinstance(flags, Mapping):
            raise TriageError("flags", "must be an object of booleans")
        for name, on in flags.items():
            if name not in TRIAGE_FLAGS or not isinstance(on, bool):
                raise TriageError("flags", f"{name!r} must be one of {', '.join(TRIAGE_FLAGS)}")
            values[f"flag_{name}"] = on
    return values


async def update_case(
    session: AsyncSession,
    *,
    case: Case,
    changes: Mapping[str, Any],
    actor: Actor,
    now: datetime,
    oidc: bool,
    fields: frozenset[str] = FIELDS,
    action: str = "case.update",
) -> dict[str, tuple[Any, Any]]:
    """Applies `changes` (API field names); returns what changed as field → (before, after).
    `oidc`: the installation offers the municipality's login (`may_sign_in`).

    Staff may change any of `FIELDS`; a sender classifying their own case passes `SENDER_FIELDS`
    and the action `case.classified`. Each change is one audit event."""
    values = await _validated(session, changes, fields)
    closing = values.get("status") == CaseStatus.CLOSED and case.status != CaseStatus.CLOSED
    reopening = (
        "status" in values
        and values["status"] != CaseStatus.CLOSED
        and case.status == CaseStatus.CLOSED
    )
    if closing and not (values.get("outcome") or case.outcome):
        raise TriageError("outcome", "closing a case needs an outcome", swedish="Välj ett utfall.")
    if values.get("outcome") and values.get("status", case.status) != CaseStatus.CLOSED:
        raise TriageError("outcome", "only a closed case has an outcome")
    await _check_assignee(session, case=case, values=values, oidc=oidc)
    if closing:
        values["closed_at"] = now
    if reopening:
        values["closed_at"] = None
        values["outcome"] = None
    changed: dict[str, tuple[Any, Any]] = {}
    for name, value in values.items():
        before = getattr(case, name)
        if before != value:
            changed[name] = (before, value)
            setattr(case, name, value)
    if "unit_id" in changed and case.unit_id is not None:
        unit = await session.get(Unit, case.unit_id)
        assert unit is not None
        due = due_date(case.received_at, unit.response_days, now=now)
        if due != case.due_on:
            changed["due_on"] = (case.due_on, due)
            case.due_on = due
    if not changed:
        return changed
    case.updated_at = now
    for name, (before, after) in changed.items():
        audit(
            session,
            actor=actor,
            action=action,
            case=case,
            now=now,
            field=name,
            before=_plain(before),
            after=_plain(after),
        )
    new_assignee = changed.get("assignee_id", (None, None))[1]
    if new_assignee is not None and case.id is not None:
        await record_assigned(
            session,
            case_id=case.id,
            assignee_id=new_assignee,
            actor_user_id=actor.user_id,
            now=now,
        )
    raised = [name for name in TRIAGE_FLAGS if changed.get(f"flag_{name}", (None, False))[1]]
    if raised:
        await open_flag_tasks(session, case=case, kinds=raised, actor=actor, now=now)
    await session.flush()
    return changed


async def _check_assignee(
    session: AsyncSession, *, case: Case, values: dict[str, Any], oidc: bool
) -> None:
    """A case is given only to someone who can sign in (`may_sign_in`), sees it and may act on
    it (not a viewer) — whom `assignable_users` offers; moving it out of its assignee's units
    leaves it unassigned."""
    unit_id = values.get("unit_id", case.unit_id)
    assignee_id = values.get("assignee_id", case.assignee_id)
    if assignee_id is None or ("assignee_id" not in values and "unit_id" not in values):
        return
    user = await session.get(StaffUser, assignee_id)
    allowed = False
    # Whom a case is newly given to must be able to sign in; an assignee kept through a move
    # only has to stay active and see the case where it goes.
    if user is not None and (
        may_sign_in(user, oidc=oidc) if "assignee_id" in values else user.active
    ):
        allowed = may_be_assigned(await scope_for_user(session, user=user), unit_id)
    if allowed and "assignee_id" in values and await _handled_decision(session, case, assignee_id):
        raise TriageError(
            "assignee",
            "the client asked (in the check-in) to talk to someone other than the caseworker "
            "who registered the decision",
            swedish="Klienten har bett att få prata med någon annan än den handläggare som "
            "registrerade beslutet. Välj någon annan.",
        )
    if allowed:
        return
    if "assignee_id" in values:
        raise TriageError(
            "assignee",
            "the user cannot sign in, cannot see this case in its unit, or may only read cases",
            swedish="Den handläggaren kan inte logga in, kan inte se ärendet i den här "
            "verksamheten eller får bara läsa ärenden.",
        )
    values["assignee_id"] = None


async def _handled_decision(session: AsyncSession, case: Case, user_id: int) -> bool:
    """Whether a call-back case flagged for someone else would go back to the handläggare who
    registered the check-in's decision (`Decision.registered_by` is `user:<id>`)."""
    return await kept_from(session, case) == user_id


def _plain(value: Any) -> Any:
    """A JSON-friendly form for the audit detail."""
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


async def move_to_inbox(session: AsyncSession, *, case: Case, actor: Actor, now: datetime) -> bool:
    """Moves a case that machine mail opened out of "Maskinpost" into the inbox, when staff find a
    person behind it after all; audited. False when it was in the inbox already (nothing done)."""
    if not case.flag_automated:
        return False
    case.flag_automated = False
    case.updated_at = now
    audit(session, actor=actor, action="case.moved_to_inbox", case=case, now=now)
    await session.flush()
    return True
