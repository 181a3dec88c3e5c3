"""The audit trail's one writer: who did what to which case, and when.

Every change a person, a token or the system makes is an `AuditEvent` written by `audit()` in the
same transaction as the change itself, so the trail can never disagree with what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.models import AuditEvent, Case


@dataclass(frozen=True, slots=True)
class Actor:
    """Who does something, for the audit trail: `user:<id>`, `token:<id>` or `system`."""

    name: str
    user_id: int | None = None
    remote_addr: str | None = None


SYSTEM = Actor("system")


def audit_row(
    *,
    actor: Actor,
    action: str,
    case_id: int | None,
    case_reference: str | None,
    now: datetime,
    detail: dict[str, Any],
) -> dict[str, Any]:
    """The values of one audit event: `audit()` adds it, batch intake inserts many at once."""
    return {
        "at": now,
        "actor": actor.name,
        "action": action,
        "case_id": case_id,
        "case_reference": case_reference,
        "detail": detail,
        "remote_addr": actor.remote_addr,
    }


def audit(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    case: Case | None,
    now: datetime,
    **detail: Any,
) -> None:
    """Records what `actor` did to `case` (or to no case) in the caller's transaction."""
    session.add(
        AuditEvent(
            **audit_row(
                actor=actor,
                action=action,
                case_id=case.id if case else None,
                case_reference=case.reference if case else None,
                now=now,
                detail=detail,
            )
        )
    )
