"""The archive export (e-arkiv): closed cases written to a folder, one folder per case, with a
manifest of SHA-256 checksums of every file, and the check that nothing in it changed.

Per case: `case.json` (the case's metadata), `messages/NNNN.eml` (each message: the original
bytes as received where they are stored, else the message rebuilt from what the case holds),
`attachments/NNNN-MM-name` (each attachment's bytes) and `audit.json` (the case's audit trail).
`manifest.sha256` at the top lists every file as `sha256sum` writes it, so `sha256sum -c` reads
it too. Files are written the same way every time (sorted keys, no export time inside), so
exporting a period again gives the same bytes for a case that did not change. `docs/archive.md`
describes the structure and how it relates to Riksarkivet's FGS and eARD.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.registry import registry_title
from inbox.core.audit import Actor, audit
from inbox.core.models import (
    Attachment,
    AuditEvent,
    Case,
    CaseStatus,
    CaseTopic,
    Consent,
    Contact,
    DocumentRequest,
    IntakeRecord,
    Measure,
    Message,
    RightsRequest,
    Task,
    Topic,
    Unit,
)
from inbox.core.time import stockholm_days

MANIFEST = "manifest.sha256"
FORMAT = "synpunkt-arkiv/1"
_UNSAFE = re.compile(r"[^\w.\-]+")


@dataclass
class ExportReport:
    references: list[str] = field(default_factory=list)
    files: int = 0
    newly_marked: int = 0


def json_bytes(value: Any) -> bytes:
    """JSON as the export writes it: sorted keys, UTF-8, indented, the same bytes every time."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2, default=_plain)
    return (text + "\n").encode()


def _plain(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def safe_name(name: str) -> str:
    """A file name that is one path component on every file system the archive may land on."""
    cleaned = _UNSAFE.sub("_", name).strip("._")[:100]
    return cleaned or "fil"


async def closed_cases(session: AsyncSession, *, start: date, end: date) -> list[Case]:
    """The closed cases received from `start` to `end` (Stockholm dates, inclusive), oldest
    first: an open case is not a finished record yet."""
    since, until = stockholm_days(start, end)
    rows = await session.execute(
        select(Case)
        .where(
            col(Case.received_at) >= since,
            col(Case.received_at) < until,
            col(Case.status) == CaseStatus.CLOSED,
        )
        .order_by(col(Case.received_at), col(Case.id))
    )
    return list(rows.scalars())


async def export_period(
    session: AsyncSession, *, start: date, end: date, out: Path, actor: Actor, now: datetime
) -> ExportReport:
    """Writes the closed cases of the period to `out`, marks them exported (the first export's
    time is kept) and rewrites the manifest; audited as one `archive.exported` event."""
    report = ExportReport()
    for case in await closed_cases(session, start=start, end=end):
        report.files += len(await export_case(session, case, out / safe_name(case.reference)))
        report.references.append(case.reference)
        if case.archived_at is None:
            case.archived_at = now
            report.newly_marked += 1
    await asyncio.to_thread(write_manifest, out)
    audit(
        session,
        actor=actor,
        action="archive.exported",
        case=None,
        now=now,
        start=start.isoformat(),
        end=end.isoformat(),
        cases=len(report.references),
        newly_marked=report.newly_marked,
    )
    return report


async def export_case(session: AsyncSession, case: Case, folder: Path) -> list[Path]:
    """Writes one case's folder (replacing what an earlier export wrote there); its files."""
    messages = await _messages(session, case)
    files: dict[str, bytes] = {}
    listed = []
    for n, message in enumerate(messages, start=1):
        eml, original = await _eml(session, message)
        name = f"messages/{n:04d}.eml"
        files[name] = eml
        attachments = []
        for m, attachment in enumerate(await _attachments(session, message), start=1):
            path = f"attachments/{n:04d}-{m:02d}-{safe_name(attachment.filename)}"
            files[path] = attachment.data
            attachments.append(
                {
                    "file": path,
                    "filename": attachment.filename,
                    "content_type": attachment.content_type,
                    "size": attachment.size,
                    "sha256": attachment.sha256,
                    "inline": attachment.inline,
                }
            )
        listed.append(_message_meta(message, name, original, attachments))
    files["case.json"] = json_bytes(await case_metadata(session, case, listed))
    files["audit.json"] = json_bytes(await _trail(session, case))
    await asyncio.to_thread(_replace_folder, folder, files)
    return [folder / name for name in files]


def _replace_folder(folder: Path, files: dict[str, bytes]) -> None:
    for old in sorted(folder.rglob("*"), reverse=True) if folder.exists() else []:
        if old.is_dir():
            if not any(old.iterdir()):
                old.rmdir()
        elif old.relative_to(folder).as_posix() not in files:
            old.unlink()
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


async def _messages(session: AsyncSession, case: Case) -> Sequence[Message]:
    rows = await session.execute(
        select(Message)
        .where(col(Message.case_id) == case.id)
        .order_by(col(Message.created_at), col(Message.id))
    )
    return rows.scalars().all()


async def _attachments(session: AsyncSession, message: Message) -> Sequence[Attachment]:
    rows = await session.execute(
        select(Attachment)
        .where(col(Attachment.message_id) == message.id)
        .order_by(col(Attachment.id))
    )
    return rows.scalars().all()


async def _eml(session: AsyncSession, message: Message) -> tuple[bytes, bool]:
    """The message as an RFC 5322 file, and whether it is the original as received."""
    if message.intake_id is not None:
        raw = (
            await session.execute(
                select(col(IntakeRecord.raw)).where(col(IntakeRecord.id) == message.intake_id)
            )
        ).scalar_one_or_none()
        if raw:
            return raw, True
    return rebuilt_eml(message), False


def _header(value: str) -> str:
    return " ".join(value.split())


def rebuilt_eml(message: Message) -> bytes:
    """A message whose original is not stored (an answer sent, a note, a call registered by
    staff, a message from a chat), rebuilt from its stored fields."""
    mail = EmailMessage(policy=SMTP)
    if message.sender_name or message.sender_address:
        mail["From"] = _header(f"{message.sender_name or ''} <{message.sender_address or ''}>")
    if message.recipient:
        mail["To"] = _header(message.recipient)
    mail["Subject"] = _header(message.subject)
    mail["Date"] = format_datetime(message.created_at)
    if message.rfc_message_id:
        mail["Message-ID"] = _header(message.rfc_message_id)
    if message.in_reply_to:
        mail["In-Reply-To"] = _header(message.in_reply_to)
    mail["X-Synpunkt-Direction"] = message.direction
    mail["X-Synpunkt-Channel"] = message.channel
    mail.set_content(message.text or "", cte="quoted-printable")
    return mail.as_bytes()


def _message_meta(
    message: Message, name: str, original: bool, attachments: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "file": name,
        "original": original,
        "direction": message.direction,
        "channel": message.channel,
        "kind": message.kind,
        "created_at": message.created_at,
        "subject": message.subject,
        "sender_address": message.sender_address,
        "sender_name": message.sender_name,
        "recipient": message.recipient,
        "rfc_message_id": message.rfc_message_id,
        "delivery": message.delivery,
        "attachments": attachments,
    }


async def case_metadata(
    session: AsyncSession, case: Case, messages: list[dict[str, Any]]
) -> dict[str, Any]:
    """What `case.json` says of the case: its registry facts, handling and outcome."""
    unit = await session.get(Unit, case.unit_id) if case.unit_id else None
    contact = await session.get(Contact, case.contact_id) if case.contact_id else None
    merged_into = await session.get(Case, case.merged_into_id) if case.merged_into_id else None
    return {
        "format": FORMAT,
        "reference": case.reference,
        "title": registry_title(case, unit.name if unit else None),  # ärendemening
        "kind": case.kind,
        "status": case.status,
        "outcome": case.outcome,
        "channel": case.channel,
        "origin": case.origin,
        "submitter_role": case.submitter_role,
        "unit": {"code": unit.code, "name": unit.name} if unit else None,
        "received_at": case.received_at,
        "due_on": case.due_on,
        "first_response_at": case.first_response_at,
        "closed_at": case.closed_at,
        "merged_into": merged_into.reference if merged_into else None,
        "secrecy": {"marked": case.secrecy_marked, "reason": case.secrecy_reason},
        "identity": {"protected": case.identity_protected, "reason": case.identity_reason},
        "flags": {
            name.removeprefix("flag_"): value
            for name, value in case.model_dump().items()
            if name.startswith("flag_")
        },
        "event": {
            "what": case.event_what,
            "when": case.event_when,
            "where": case.event_where,
            "consequence": case.event_consequence,
        },
        "contact": _contact(contact),
        "topics": await _topics(session, case),
        "measures": await _rows(session, Measure, Measure.case_id, case.id),
        "tasks": await _rows(session, Task, Task.case_id, case.id),
        "consents": await _rows(session, Consent, Consent.case_id, case.id),
        "document_requests": await _rows(
            session, DocumentRequest, DocumentRequest.case_id, case.id
        ),
        "rights_requests": await _rows(session, RightsRequest, RightsRequest.case_id, case.id),
        "messages": messages,
    }


async def _topics(session: AsyncSession, case: Case) -> list[dict[str, str]]:
    rows = await session.execute(
        select(col(Topic.code), col(Topic.label_sv))
        .join(CaseTopic, col(CaseTopic.topic_id) == Topic.id)
        .where(col(CaseTopic.case_id) == case.id)
        .order_by(col(Topic.code))
    )
    return [{"code": code, "name": name} for code, name in rows.all()]


def _contact(contact: Contact | None) -> dict[str, Any] | None:
    if contact is None:
        return None
    return {
        "channel": contact.channel,
        "address": contact.address,
        "display_name": contact.display_name,
    }


async def _rows(session: AsyncSession, model: Any, column: Any, case_id: int | None) -> list[Any]:
    rows = await session.execute(
        select(model).where(col(column) == case_id).order_by(col(model.id))
    )
    return [{k: v for k, v in row.model_dump().items() if k != "case_id"} for row in rows.scalars()]


async def _trail(session: AsyncSession, case: Case) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(AuditEvent).where(col(AuditEvent.case_id) == case.id).order_by(col(AuditEvent.id))
    )
    return [
        {
            "at": event.at,
            "actor": event.actor,
            "action": event.action,
            "detail": event.detail,
            "remote_addr": event.remote_addr,
        }
        for event in rows.scalars()
    ]


# The manifest ------------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files(out: Path) -> list[str]:
    return sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != MANIFEST
    )


def write_manifest(out: Path) -> None:
    """`manifest.sha256`: every file under `out`, sorted, as `sha256sum` writes it."""
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"{sha256_of(out / name)}  {name}\n" for name in _files(out)]
    (out / MANIFEST).write_text("".join(lines), encoding="utf-8")


def verify(out: Path) -> list[str]:
    """Every problem found: a file missing, changed, or not in the manifest. Empty: all well."""
    manifest = out / MANIFEST
    if not manifest.is_file():
        return [f"{MANIFEST} is missing"]
    problems = []
    listed = set()
    for n, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or ".." in Path(name).parts or Path(name).is_absolute():
            problems.append(f"{MANIFEST} line {n} is not `SHA256  PATH`")
            continue
        listed.add(name)
        path = out / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif sha256_of(path) != digest:
            problems.append(f"{name}: checksum differs")
    problems.extend(f"{name}: not in the manifest" for name in _files(out) if name not in listed)
    return problems
