"""Legal hold: a case kept whatever the retention rules say, while a dispute, a supervisory
matter or a request for the documents needs it. Registrars and admins set it with a reason and
take it away; each change is an audit event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.cases.access import Forbidden, Scope
from inbox.core.audit import Actor, audit
from inbox.core.models import Case

MAX_REASON = 500


class HoldError(ValueError):
    """A hold that cannot be set as asked; the message is Swedish, for the page and the CLI."""


async def set_hold(
    session: AsyncSession,
    *,
    case: Case,
    on: bool,
    reason: str,
    scope: Scope | None,
    actor: Actor,
    now: datetime,
) -> bool:
    """Puts `case` under legal hold (`on`, with `reason`) or takes the hold away; whether anything
    changed. `scope` None: the command line, which may do anything."""
    if scope is not None and not scope.keeps_registry:
        raise Forbidden("only a registrar or an admin sets or removes a legal hold")
    reason = " ".join(reason.split())
    if on and not reason:
        raise HoldError("Ange skälet till att ärendet ska bevaras.")
    if len(reason) > MAX_REASON:
        raise HoldError(f"Skälet får vara högst {MAX_REASON} tecken.")
    if on == (case.hold_reason is not None) and (not on or reason == case.hold_reason):
        return False
    before = case.hold_reason
    case.hold_reason, case.hold_by, case.hold_at = (
        (reason, actor.name, now) if on else (None, None, None)
    )
    case.updated_at = now
    audit(
        session,
        actor=actor,
        action="case.hold" if on else "case.hold_removed",
        case=case,
        now=now,
        before=before,
        reason=reason if on else None,
    )
    return True
