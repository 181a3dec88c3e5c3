"""One change applied to many cases at once (the inbox list's "Ändra markerade ärenden"): assign,
set the unit, set the kind, close with an outcome.

Nothing here decides anything of its own: each case is looked up through the principal's scope
(`find_case`, as the single-case forms do) and changed through `update_case`, which validates,
writes and audits exactly as it does for one case. A case that may not be changed is skipped and
reported with its reason in Swedish, never silently; the others are changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.cases.access import Need, Scope
from inbox.cases.queries import CaseRemoved, find_case
from inbox.cases.triage import TriageError, update_case
from inbox.core.audit import Actor

MAX_CASES = 100  # two pages of the list
NOT_FOUND = "Ärendet finns inte eller så har du inte tillgång till det."
REMOVED = "Ärendet är gallrat."
REFUSED = "Ändringen är inte tillåten för ärendet."


@dataclass(slots=True)
class BulkResult:
    """What happened to each case named: changed, already as asked, or refused with a reason."""

    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (reference, Swedish reason)

    def summary(self) -> str:
        """The result in one Swedish paragraph: "3 ärenden ändrade, 1 kunde inte ändras: …"."""
        n = len(self.changed)
        parts = [
            "Inga ärenden ändrades"
            if n == 0
            else ("1 ärende ändrat" if n == 1 else f"{n} ärenden ändrade")
        ]
        if self.unchanged:
            parts.append(f"{len(self.unchanged)} var redan så")
        text = ", ".join(parts)
        if not self.refused:
            return f"{text}."
        by_reason: dict[str, list[str]] = {}
        for reference, reason in self.refused:
            by_reason.setdefault(reason, []).append(reference)
        reasons = " ".join(f"{', '.join(refs)} – {reason}" for reason, refs in by_reason.items())
        return f"{text}, {len(self.refused)} kunde inte ändras: {reasons}"


def distinct(references: Iterable[str]) -> list[str]:
    """The references named, trimmed and upper-cased, each once, in the order given."""
    seen: dict[str, None] = {}
    for reference in references:
        cleaned = reference.strip().upper()
        if cleaned:
            seen.setdefault(cleaned, None)
    return list(seen)


async def apply_to_cases(
    session: AsyncSession,
    *,
    references: Iterable[str],
    changes: Mapping[str, Any],
    scope: Scope,
    actor: Actor,
    now: datetime,
    oidc: bool,
) -> BulkResult:
    """Applies `changes` (`update_case`'s field names) to each case named that `scope` may see.

    The role is checked once (`Forbidden` for a viewer, as on the single-case forms); each case
    outside the scope, removed, or refused by `update_case` is reported in `refused`."""
    scope.require(Need.WRITE)
    result = BulkResult()
    for reference in distinct(references):
        try:
            case = await find_case(session, reference=reference, scope=scope)
        except CaseRemoved:
            result.refused.append((reference, REMOVED))
            continue
        if case is None:
            result.refused.append((reference, NOT_FOUND))
            continue
        try:
            # Validates everything before it writes anything: a refusal leaves the case as it was.
            changed = await update_case(
                session, case=case, changes=changes, actor=actor, now=now, oidc=oidc
            )
        except TriageError as exc:
            result.refused.append((case.reference, exc.swedish or REFUSED))
            continue
        (result.changed if changed else result.unchanged).append(case.reference)
    return result
