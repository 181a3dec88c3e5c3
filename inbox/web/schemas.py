"""The JSON shapes of the API, which are also its OpenAPI documentation at `/docs`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CaseSummary(BaseModel):
    reference: str
    kind: str
    status: str
    channel: str
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
    status: str
    database: str
    intake: dict[str, int]
    outbox: dict[str, int]


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


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    case: str | None
    detail: dict[str, Any]
    remote_addr: str | None
