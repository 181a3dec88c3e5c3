"""The audit trail in words: one function turns an event into a Swedish sentence, with the names
of users, units and tokens instead of their ids and codes. The audit page and its CSV export both
use it, so what a log review reads is the same on screen and in the file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.models import ApiToken, AuditEvent, StaffUser, Unit
from inbox.web.render import LABELS, label, local_time

CLI_PREFIX = "cli:"


@dataclass(frozen=True, slots=True)
class Names:
    """Display names by the keys the trail uses."""

    actors: dict[str, str] = field(default_factory=dict)  # user:<id>, token:<id>
    user_ids: dict[int, str] = field(default_factory=dict)
    usernames: dict[str, str] = field(default_factory=dict)
    unit_ids: dict[int, str] = field(default_factory=dict)
    unit_codes: dict[str, str] = field(default_factory=dict)

    def actor(self, actor: str) -> str:
        if actor == "system":
            return "Systemet"
        if actor.startswith(CLI_PREFIX):
            return f"Kommandoraden ({actor.removeprefix(CLI_PREFIX)})"
        if actor == "cli":
            return "Kommandoraden"
        return self.actors.get(actor, actor)

    def user(self, username: object) -> str:
        return self.usernames.get(str(username), str(username))

    def units(self, value: object) -> str:
        if value == "*":
            return "alla verksamheter"
        if isinstance(value, list):
            return ", ".join(self.unit_codes.get(str(v), str(v)) for v in value) or "inga"
        return self.unit_codes.get(str(value), str(value))


async def load_names(session: AsyncSession) -> Names:
    """Every user, unit and token's name: small tables, read once per page or export."""
    names = Names()
    for user in (await session.execute(select(StaffUser))).scalars():
        shown = user.display_name or user.username
        names.actors[f"user:{user.id}"] = shown
        names.user_ids[user.id or 0] = shown
        names.usernames[user.username] = shown
    for token in (await session.execute(select(ApiToken))).scalars():
        names.actors[f"token:{token.id}"] = f"API-nyckeln {token.name}"
    for unit in (await session.execute(select(Unit))).scalars():
        names.unit_ids[unit.id or 0] = unit.name
        names.unit_codes[unit.code] = unit.name
    return names


FIELDS = {
    "assignee_id": "handläggare",
    "unit_id": "verksamhet",
    "status": "status",
    "kind": "typ",
    "priority": "prioritet",
    "submitter_role": "inlämnarens roll",
    "outcome": "utfall",
    "due_on": "sista svarsdag",
    "wants_reply": "vill ha svar",
    "role": "roll",
    "units": "verksamheter",
    "display_name": "namn",
    "name": "namn",
    "response_days": "svarstid (arbetsdagar)",
    "checkin_delay_days": "uppföljning efter (arbetsdagar)",
    "active": "aktiv",
}
LABEL_GROUPS = {"status", "kind", "priority", "submitter_role", "outcome", "role"}

SIMPLE = {
    "case.read": "läste ärendet",
    "case.created": "skapade ärendet",
    "case.registered": "registrerade ärendet",
    "case.reply": "svarade i ärendet",
    "case.note": "skrev en intern anteckning",
    "case.moved_to_inbox": "flyttade ärendet till inkorgen",
    "case.secrecy.marked": "sekretessmarkerade ärendet",
    "case.secrecy.removed": "tog bort sekretessmarkeringen",
    "case.identity.protected": "skyddade inlämnarens identitet",
    "case.identity.unprotected": "tog bort skyddet av inlämnarens identitet",
    "message.original.read": "hämtade originalmeddelandet",
    "message.split": "delade ut ett meddelande till ett nytt ärende",
    "attachment.read": "hämtade en bilaga",
    "consent.recorded": "registrerade ett samtycke",
    "consent.revoked": "registrerade att ett samtycke återkallats",
    "document_request.decided": "registrerade en begäran om allmän handling",
    "decision.registered": "registrerade ett beslut för uppföljning",
    "decision.withdrawn": "återkallade ett beslut för uppföljning",
    "task.created": "fick en uppgift",
    "task.done": "markerade en uppgift som klar",
    "signin.password": "loggade in med lösenord",
    "signin.oidc": "loggade in via kommunens inloggning",
    "signin.oidc.refused": "nekades inloggning via kommunens inloggning",
    "diarium.extracted": "tog ut ett diarieutdrag",
    "user.notifications": "ändrade sina inställningar för e-post om ärenden",
}


def _value(name: str, value: Any, names: Names) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "ja" if value else "nej"
    if name == "assignee_id" and isinstance(value, int):
        return names.user_ids.get(value, f"användare {value}")
    if name == "unit_id" and isinstance(value, int):
        return names.unit_ids.get(value, f"verksamhet {value}")
    if name == "units":
        return names.units(value)
    if name in LABEL_GROUPS:
        return label(name, value)
    if name.startswith("flag_"):
        return "ja" if value else "nej"
    return str(value)


def _field(name: str) -> str:
    if name.startswith("flag_"):
        flag = name.removeprefix("flag_")
        return f"flaggan ”{LABELS['flag'].get(flag, flag)}”"
    return FIELDS.get(name, name)


def _change(name: str, before: Any, after: Any, names: Names) -> str:
    return f"{_field(name)} från {_value(name, before, names)} till {_value(name, after, names)}"


def _changes(detail: dict[str, Any], names: Names) -> str:
    parts = [
        _change(key, pair[0], pair[1], names)
        for key, pair in detail.items()
        if isinstance(pair, list) and len(pair) == 2 and key in FIELDS
    ]
    return ", ".join(parts)


def _staff(action: str, d: dict[str, Any], names: Names) -> str | None:
    who = names.user(d.get("user", "")) if "user" in d else ""
    match action:
        case "staff.add":
            return (
                f"lade till {who} som {label('role', d.get('role')).lower()} "
                f"för {names.units(d.get('units', []))}"
            )
        case "staff.password":
            return f"bytte lösenord för {who}"
        case "staff.disable":
            return f"stängde av {who}"
        case "staff.enable":
            return f"aktiverade {who} igen"
        case "staff.signout":
            return f"loggade ut {who} överallt"
        case "staff.update":
            return f"ändrade {who}: {_changes(d, names)}"
        case "unit.add":
            return f"lade till verksamheten {d.get('name', d.get('unit'))}"
        case "unit.update":
            return f"ändrade verksamheten {names.units(d.get('unit'))}: {_changes(d, names)}"
        case "unit.disable":
            return f"stängde verksamheten {names.units(d.get('unit'))} för nya ärenden"
        case "unit.enable":
            return f"öppnade verksamheten {names.units(d.get('unit'))} igen"
        case "token.create":
            return (
                f"skapade API-nyckeln {d.get('name')} ({label('role', d.get('role')).lower()}, "
                f"{names.units(d.get('units', []))})"
            )
        case "token.revoke":
            return f"återkallade API-nyckeln {d.get('name')}"
        case "logreview.recorded":
            period = d.get("period") or ["?", "?"]
            return f"registrerade en loggranskning av {period[0]}–{period[1]}"
    return None


def describe(event: AuditEvent, names: Names) -> str:
    """What happened, as a Swedish sentence without its subject (the actor is shown beside it)."""
    d = event.detail or {}
    action = event.action
    if action in ("case.update", "case.triage") and "field" in d:
        text = "ändrade " + _change(str(d["field"]), d.get("before"), d.get("after"), names)
    elif action == "case.merged":
        text = f"slog ihop ärendet med {d.get('into')}"
    elif action == "case.merged_from":
        text = f"tog in ärendet {d.get('source')}"
    elif action == "case.merge_undone":
        other = d.get("into") or d.get("source")
        text = f"ångrade sammanslagningen med {other}"
    elif action == "message.split_undone":
        text = f"ångrade utdelningen av ett meddelande till {d.get('removed_case')}, som togs bort"
    elif action == "case.split_undone":
        text = f"ångrade delningen: meddelandet flyttades tillbaka till {d.get('back_to')}"
    else:
        text = _staff(action, d, names) or SIMPLE.get(action) or _fallback(action, d)
    return text[:1].upper() + text[1:]


def _fallback(action: str, detail: dict[str, Any]) -> str:
    extra = "; ".join(f"{k}: {v}" for k, v in detail.items())
    return f"{action}" + (f" ({extra})" if extra else "")


# CSV ---------------------------------------------------------------------------------------------

CSV_HEADER = ("Tid", "Vem", "Vad", "Ärende", "Från adress", "Händelse")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe
    (OWASP's advice against CSV injection)."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_text(events: Iterable[AuditEvent], names: Names) -> str:
    """The events as CSV with `;` between cells (what a Swedish spreadsheet expects), one row each."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for e in events:
        row = (
            local_time(e.at),
            names.actor(e.actor),
            describe(e, names),
            e.case_reference or "",
            e.remote_addr or "",
            e.action,
        )
        writer.writerow([safe_cell(str(cell)) for cell in row])
    return out.getvalue()
