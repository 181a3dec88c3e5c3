"""The JSON shapes of the API, which are also its OpenAPI documentation at `/docs`, and how the
core's objects are put into them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from inbox.cases.queries import ROW_FLAGS, CaseDetail
from inbox.core.models import Attachment, Case, Message


class CaseSummary(BaseModel):
    reference: str
    kind: str
    status: str
    channel: str
    origin: str = "channel"  # channel, manual, checkin
    unit: str | None
    subject: str
    preview: str
    sender: str | None
    received_at: datetime
    due_on: date | None
    flags: list[str]


class CaseList(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None


class AttachmentOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    inline: bool
    url: str


class MessageOut(BaseModel):
    id: int
    direction: str
    channel: str
    kind: str | None
    sender: str | None
    sender_name: str | None
    recipient: str | None
    subject: str
    text: str
    display_text: str
    html: str | None
    language: str | None
    automation: str
    created_at: datetime
    delivery: str | None
    delivered_at: datetime | None
    delivery_error: str | None
    # What a delivery report said (delivery `bounced`): `hard` or `soft`, RFC 3463 status.
    bounce_kind: str | None = None
    bounce_status: str | None = None
    bounce_diagnostic: str | None = None
    bounced_at: datetime | None = None
    attachments: list[AttachmentOut]
    original_url: str | None


class OutboxOut(BaseModel):
    id: int
    kind: str
    channel: str
    status: str
    attempts: int
    run_at: datetime
    sent_at: datetime | None
    last_error: str | None


class CaseOut(BaseModel):
    reference: str
    kind: str
    status: str
    channel: str
    origin: str
    unit: str | None
    submitter_role: str
    priority: str
    language: str | None
    subject: str
    contact: str | None
    contact_name: str | None
    contact_unreachable: bool
    received_at: datetime
    due_on: date | None
    first_response_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    flags: list[str]
    messages: list[MessageOut]
    outbox: list[OutboxOut]


def case_out(detail: CaseDetail) -> CaseOut:
    case = detail.case
    messages = [
        message_out(case, m, detail.attachments.get(m.id or 0, [])) for m in detail.messages
    ]
    contact = detail.contact
    return CaseOut(
        reference=case.reference,
        kind=case.kind,
        status=case.status,
        channel=case.channel,
        origin=case.origin,
        unit=detail.unit_code,
        submitter_role=case.submitter_role,
        priority=case.priority,
        language=case.language,
        subject=case.subject,
        contact=contact.address if contact else None,
        contact_name=contact.display_name if contact else None,
        contact_unreachable=bool(contact and contact.unreachable_at),
        received_at=case.received_at,
        due_on=case.due_on,
        first_response_at=case.first_response_at,
        closed_at=case.closed_at,
        outcome=case.outcome,
        flags=_flags(case),
        messages=messages,
        outbox=[
            OutboxOut(
                id=o.id or 0,
                kind=o.kind,
                channel=o.channel,
                status=o.status,
                attempts=o.attempts,
                run_at=o.run_at,
                sent_at=o.sent_at,
                last_error=o.last_error,
            )
            for o in detail.outbox
        ],
    )


def message_out(case: Case, m: Message, attachments: Sequence[Attachment]) -> MessageOut:
    base = f"/api/cases/{case.reference}"
    return MessageOut(
        id=m.id or 0,
        direction=m.direction,
        channel=m.channel,
        kind=m.kind,
        sender=m.sender_address,
        sender_name=m.sender_name,
        recipient=m.recipient,
        subject=m.subject,
        text=m.text,
        display_text=m.display_text,
        html=m.html,
        language=m.language,
        automation=m.automation,
        created_at=m.created_at,
        delivery=m.delivery,
        delivered_at=m.delivered_at,
        delivery_error=m.delivery_error,
        bounce_kind=m.bounce_kind,
        bounce_status=m.bounce_status,
        bounce_diagnostic=m.bounce_diagnostic,
        bounced_at=m.bounced_at,
        attachments=[
            AttachmentOut(
                id=a.id or 0,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                sha256=a.sha256,
                inline=a.inline,
                url=f"{base}/attachments/{a.id}",
            )
            for a in attachments
        ],
        original_url=f"{base}/messages/{m.id}/original" if m.intake_id else None,
    )


def _flags(case: Case) -> list[str]:
    return [name for name in ROW_FLAGS if getattr(case, f"flag_{name}")]


class IntakeOut(BaseModel):
    id: int
    channel: str
    external_id: str
    status: str
    received_at: datetime
    raw_size: int
    error: str | None
    case_reference: str | None
    raw_url: str


class Health(BaseModel):
    status: str  # "ok", or "error" with the reasons in `problems` (HTTP 503)
    database: str  # "ok", "busy" (no answer in time) or the error's type
    intake: dict[str, int]
    outbox: dict[str, int]
    problems: list[str] = []


class Problem(BaseModel):
    """Why a request was refused: a sentence, or (for malformed fields) a list naming each one."""

    detail: str | list[dict[str, Any]]


# For routes whose own rules refuse input with a sentence, beside FastAPI's field errors.
REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"model": Problem, "description": "The input was refused; `detail` says why"}
}


def download_doc(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI description of a download: a file in one of these media types."""
    return {200: {"description": "A download", "content": {t: {} for t in media_types}}}


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=20_000, description="The answer, as plain text")


class TriageIn(BaseModel):
    """Only the fields sent are changed; `null` clears unit or assignee."""

    model_config = ConfigDict(extra="forbid")
    kind: str | None = None
    unit: str | None = None
    submitter_role: str | None = None
    priority: str | None = None
    assignee: str | None = None
    flags: dict[str, bool] | None = None
    status: str | None = None
    outcome: str | None = None


# Search, merge, split, registration and the audit trail --------------------------------------------


class CaseRef(BaseModel):
    reference: str
    url: str


class MergeIn(BaseModel):
    into: str = Field(min_length=1, max_length=32, description="The reference to merge into")


class MergeOut(BaseModel):
    reference: str
    merged_into: str
    messages_moved: int


class RegistrationIn(BaseModel):
    channel: str = Field(description="How it came in: `phone`, `letter`, `visit` or `ivo`")
    subject: str = Field(min_length=1, max_length=500)
    text: str = Field(min_length=1, max_length=50_000)
    kind: str = "other"
    unit: str | None = Field(default=None, description="A unit code")
    submitter_role: str = "unknown"
    contact_name: str | None = Field(default=None, max_length=200)
    contact_email: str | None = Field(default=None, max_length=320)
    contact_phone: str | None = Field(default=None, max_length=64)
    received_at: datetime | None = Field(
        default=None, description="When the call, letter or visit came (default: now)"
    )
    acknowledge: bool = Field(
        default=False, description="Send the acknowledgement to `contact_email`"
    )


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    case: str | None
    detail: dict[str, object]
    remote_addr: str | None


class AuditList(BaseModel):
    items: list[AuditEventOut]
    next_before: int | None = Field(description="Pass as `before` for the next (older) page")
