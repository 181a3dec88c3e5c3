"""The web form's channel (`web`): what a submission writes to the ledger, and how it is read back.

A submission is written first, like a mail before its `250`: its ledger row (JSON, channel `web`),
its case reference reserved at once so the receipt can show it, and the SHA-256 of its follow-up
code, in one transaction the page commits before it shows the receipt. The worker parses the row
with `parse_web` and `receive()` makes the case under the reserved reference. A message added on
the follow-up page is a row too, naming the case it continues.

The external id is a digest of the form's one-time token, so a second submit of the same form is
the same row: the ledger's unique key makes it one case, and the page shows the same receipt.

The follow-up code is not stored: the page derives it from the token with the secret key (an HMAC;
see `inbox.web.public.tokens`), so only the browser that holds the token can be shown it again,
and the database keeps only `sha256(code)`. A 128-bit random value needs no slow password hash:
no one can try 2^128 guesses, and the guesses made are throttled (`check_code`).

Staff answer such a case "via webben": the `web` channel's sender only marks the reply as
published, and the follow-up page shows it (`published_replies`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import altcha
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.replies import REPLY_KIND
from inbox.core.inbound import Channel, InboundAttachment, InboundMessage, UnparsableMessage
from inbox.core.models import (
    Case,
    Direction,
    IntakeRecord,
    Message,
    OutboxItem,
    SignInFailure,
    WebFollowUp,
)
from inbox.core.references import reserve_references
from inbox.intake import ledger
from inbox.intake.steps import CONTINUES

FORMAT = 1
KINDS = ("complaint", "praise", "suggestion", "question")
ROLES = ("client", "relative", "child", "staff", "other")
# The form's "annan" is the registry's "invånare": a member of the public.
_REGISTRY_ROLE = {"client": "client", "relative": "relative", "child": "child", "staff": "staff"}
_SUBJECTS = {
    "complaint": "Klagomål via webbformuläret",
    "praise": "Beröm via webbformuläret",
    "suggestion": "Förslag via webbformuläret",
    "question": "Fråga via webbformuläret",
}


@dataclass(frozen=True, slots=True)
class WebFormPolicy:
    """The public web form's limits and the organisation's accessibility facts (its settings).
    `secret_key` signs the form's one-time token and derives the follow-up code from it."""

    secret_key: str
    attachment_bytes: int = 10 * 1024 * 1024  # each (SYNPUNKT_WEBFORM_ATTACHMENT_MB)
    per_address: int = 10  # rows from one address per `window` (SYNPUNKT_WEBFORM_PER_HOUR)
    window: timedelta = timedelta(hours=1)
    min_fill_seconds: float = 3.0  # faster than a person fills it in: a machine
    follow_up: FollowUpLimits = field(default_factory=lambda: FollowUpLimits())
    # From this many rows in `window` on, the form also asks for a proof of work (ALTCHA), which
    # the browser solves by itself; None: from half of `per_address`.
    pow_from: int | None = None
    pow_cost: int = 2_000  # the hash's iterations per attempt: about a second in a browser

    @property
    def pow_threshold(self) -> int:
        return self.pow_from if self.pow_from is not None else self.per_address // 2

    # Where to report an accessibility barrier (SYNPUNKT_ACCESSIBILITY_CONTACT).
    accessibility_contact: str | None = None


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    content_type: str  # as the content says (`sniff`), never as the browser said
    data: bytes


@dataclass(frozen=True, slots=True)
class Submission:
    """What the sender wrote on the form (or on the follow-up page: `continues`)."""

    message: str
    language: str  # the code of the language they used the form in (`inbox.core.i18n`)
    kind: str | None = None
    unit_id: int | None = None
    role: str | None = None
    what: str = ""
    when: str = ""
    where: str = ""
    email: str = ""
    phone: str = ""
    continues: str | None = None  # the reference of the case a follow-up adds to
    uploads: Sequence[Upload] = field(default_factory=tuple)


class SubmittedTwice(Exception):
    """Another request wrote the same form's row first; roll back (the reference reserved here
    goes back, so none is skipped) and show the receipt of that row (`written_before`)."""


async def written_before(session: AsyncSession, *, token_nonce: str) -> Written | None:
    """The submission of the form with this token, when it has been written."""
    row = await ledger.find(session, channel=Channel.WEB, external_id=external_id(token_nonce))
    return Written(reference=row.case_reference or "", new=False) if row is not None else None


@dataclass(frozen=True, slots=True)
class Written:
    """A submission in the ledger: its case reference, and whether this request wrote it."""

    reference: str
    new: bool


def external_id(token_nonce: str) -> str:
    """The ledger key of the submission of the form with this one-time token."""
    return "form:" + hashlib.sha256(token_nonce.encode()).hexdigest()


def code_digest(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def _raw(submission: Submission, reference: str) -> bytes:
    body: dict[str, Any] = asdict(submission)
    body["uploads"] = [
        {
            "filename": u.filename,
            "content_type": u.content_type,
            "data": base64.b64encode(u.data).decode(),
        }
        for u in submission.uploads
    ]
    body["reference"] = reference
    body["format"] = FORMAT
    return json.dumps(body, ensure_ascii=False).encode()


async def write_submission(
    session: AsyncSession,
    submission: Submission,
    *,
    token_nonce: str,
    code: str,
    prefix: str,
    now: datetime,
    sender_key: str,
) -> Written:
    """Writes a new case's submission to the ledger with its reserved reference and code;
    flushes, never commits. A second submit of the same form finds the first one's reference."""
    key = external_id(token_nonce)
    before = await written_before(session, token_nonce=token_nonce)
    if before is not None:
        return before
    (reference,) = await reserve_references(session, prefix=prefix, now=now, count=1)
    row_id = await ledger.record(
        session,
        channel=Channel.WEB,
        external_id=key,
        raw=_raw(submission, reference),
        now=now,
        envelope_sender=sender_key,
    )
    if row_id is None:  # a concurrent submit of the same form won: roll back, use its row
        raise SubmittedTwice("the same form was submitted twice at once")
    row = await session.get(IntakeRecord, row_id)
    assert row is not None
    row.case_reference = reference  # reserved: the worker opens the case under it
    session.add(WebFollowUp(reference=reference, code_sha256=code_digest(code), created_at=now))
    await session.flush()
    return Written(reference=reference, new=True)


async def write_follow_up(
    session: AsyncSession,
    submission: Submission,
    *,
    token_nonce: str,
    now: datetime,
    sender_key: str,
) -> bool:
    """Writes a message to the case `submission.continues`; False when it was written before."""
    added = await ledger.record(
        session,
        channel=Channel.WEB,
        external_id=external_id(token_nonce),
        raw=_raw(submission, submission.continues or ""),
        now=now,
        envelope_sender=sender_key,
    )
    return added is not None


async def recent_submissions(
    session: AsyncSession, *, sender_key: str, now: datetime, window: timedelta
) -> int:
    """How many rows the form wrote for this sender key within `window`."""
    return int(
        (
            await session.execute(
                select(func.count()).where(
                    col(IntakeRecord.channel) == Channel.WEB,
                    col(IntakeRecord.envelope_sender) == sender_key,
                    col(IntakeRecord.received_at) > now - window,
                )
            )
        ).scalar_one()
    )


def sender_key(secret_key: str, client: str) -> str:
    """The address a submission came from, as counted: keyed (no address is stored)."""
    digest = hmac.new(secret_key.encode(), client.encode(), hashlib.sha256).hexdigest()
    return f"web:{digest[:32]}"


# --- the follow-up page -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FollowUpLimits:
    """Wrong codes allowed per `window`: from one address, and at one reference."""

    window: timedelta = timedelta(minutes=15)
    per_address: int = 10
    per_reference: int = 10


async def check_code(
    session: AsyncSession,
    *,
    reference: str,
    code: str,
    address_key: str,
    now: datetime,
    limits: FollowUpLimits,
) -> bool | None:
    """True when `code` opens `reference`; False when it does not (counted as a failure in the
    sign-in throttle's table, under `followup-addr:` and `followup-ref:` keys); None when either
    key is over its limit, and then the code is not even tried. A reference that does not exist
    fails like a wrong code, and costs the same work."""
    reference = reference.strip().upper()[:32]
    keys = (f"followup-addr:{address_key}"[:200], f"followup-ref:{reference}"[:200])
    counts = dict(
        (
            await session.execute(
                select(col(SignInFailure.key), func.count())
                .where(
                    col(SignInFailure.key).in_(keys), col(SignInFailure.at) > now - limits.window
                )
                .group_by(col(SignInFailure.key))
            )
        ).all()
    )
    if (
        counts.get(keys[0], 0) >= limits.per_address
        or counts.get(keys[1], 0) >= limits.per_reference
    ):
        return None
    stored = await session.get(WebFollowUp, reference)
    expected = stored.code_sha256 if stored is not None else "0" * 64
    if hmac.compare_digest(expected, code_digest(code)) and stored is not None:
        return True
    session.add_all([SignInFailure(key=key, at=now) for key in keys])
    await session.flush()
    return False


@dataclass(frozen=True, slots=True)
class Published:
    text: str
    at: datetime


@dataclass(frozen=True, slots=True)
class FollowUpView:
    """What the sender sees with their code: the case's status, or that it is being registered."""

    reference: str
    status: str | None  # None: the worker has not made the case yet
    replies: list[Published]
    sent: list[Published]
    # When an answer went to the sender's e-mail address instead (its text is in their mailbox,
    # not on this page, which anyone with the code can read).
    mailed: list[datetime] = field(default_factory=list)


async def follow_up_view(session: AsyncSession, reference: str) -> FollowUpView:
    case = (
        await session.execute(select(Case).where(col(Case.reference) == reference))
    ).scalar_one_or_none()
    if case is None:
        return FollowUpView(reference=reference, status=None, replies=[], sent=[])
    return FollowUpView(
        reference=reference,
        status=str(case.status),
        replies=await published_replies(session, case_id=case.id or 0),
        sent=await _sent(session, case_id=case.id or 0),
        mailed=await _mailed(session, case_id=case.id or 0),
    )


async def published_replies(session: AsyncSession, *, case_id: int) -> list[Published]:
    """The answers staff published to the follow-up page ("via webben") and that went out."""
    rows = await session.execute(
        select(col(Message.text), col(Message.created_at))
        .join(OutboxItem, col(OutboxItem.message_id) == Message.id)
        .where(
            col(Message.case_id) == case_id,
            col(Message.direction) == Direction.OUTBOUND,
            col(Message.channel) == Channel.WEB,
            col(OutboxItem.sent_at).is_not(None),
        )
        .order_by(col(Message.created_at), col(Message.id))
    )
    return [Published(text=text, at=at) for text, at in rows.all()]


async def _mailed(session: AsyncSession, *, case_id: int) -> list[datetime]:
    """When staff's answers on another channel than the web (e-mail) went out."""
    rows = await session.execute(
        select(col(OutboxItem.sent_at))
        .where(
            col(OutboxItem.case_id) == case_id,
            col(OutboxItem.kind) == REPLY_KIND,
            col(OutboxItem.channel) != Channel.WEB,
            col(OutboxItem.sent_at).is_not(None),
        )
        .order_by(col(OutboxItem.sent_at))
    )
    return [at for at in rows.scalars() if at is not None]


async def _sent(session: AsyncSession, *, case_id: int) -> list[Published]:
    rows = await session.execute(
        select(col(Message.text), col(Message.created_at))
        .where(
            col(Message.case_id) == case_id,
            col(Message.direction) == Direction.INBOUND,
            col(Message.channel) == Channel.WEB,
        )
        .order_by(col(Message.created_at), col(Message.id))
    )
    return [Published(text=text, at=at) for text, at in rows.all()]


# --- the worker's side --------------------------------------------------------------------------


def parse_web(raw: bytes) -> InboundMessage:
    """A web-form ledger row as the message `receive()` takes (a pure function: the parse pool
    imports it). The sender's e-mail address, if they gave one, is where answers go."""
    try:
        body = json.loads(raw)
        message = str(body["message"])
        language = str(body.get("language") or "sv")
    except (ValueError, KeyError, TypeError) as exc:
        raise UnparsableMessage(f"not a web form submission: {exc}") from exc
    if body.get("format") != FORMAT:
        raise UnparsableMessage(f"web form format {body.get('format')!r} is not {FORMAT}")
    text = _text(body, message)
    email = str(body.get("email") or "").strip()
    extra: dict[str, str] = {"form_language": language}
    if body.get("continues"):
        extra[CONTINUES] = str(body["continues"])
    else:
        extra |= {
            "reference": str(body.get("reference") or ""),
            "kind": str(body.get("kind") or "other"),
            "submitter_role": _REGISTRY_ROLE.get(str(body.get("role")), "citizen")
            if body.get("role")
            else "unknown",
            "unit_id": str(body.get("unit_id") or ""),
            "event_what": str(body.get("what") or "")[:4000],
            "event_when": str(body.get("when") or "")[:200],
            "event_where": str(body.get("where") or "")[:200],
        }
    return InboundMessage(
        channel=Channel.WEB,
        external_id="",  # the worker keeps the row's own
        sender_address=email or None,
        reply_channel=Channel.EMAIL if email else None,
        subject=_SUBJECTS.get(str(body.get("kind")), "Meddelande via webbformuläret"),
        text=text,
        display_text=text,
        attachments=tuple(
            InboundAttachment(
                filename=str(u["filename"]),
                content_type=str(u["content_type"]),
                data=base64.b64decode(u["data"]),
            )
            for u in body.get("uploads") or []
        ),
        language=language.split("-")[0],
        raw=raw,
        extra=extra,
    )


def _text(body: dict[str, Any], message: str) -> str:
    """The message as staff read it, with the phone number to call when that was given."""
    phone = str(body.get("phone") or "").strip()
    return f"{message}\n\nTelefon: {phone}" if phone else message


class PublishedOnFollowUp:
    """The `web` channel's sender: an answer "via webben" is published on the follow-up page,
    which shows what went out (`published_replies`); nothing leaves the server."""

    async def send(self, item: OutboxItem) -> None:
        return None


# --- attachments ----------------------------------------------------------------------------------

MAX_UPLOADS = 3
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
)


def sniff(data: bytes) -> tuple[str, str] | None:
    """The (content type, extension) of an image or a PDF, read from its first bytes (the name
    and the browser's word count for nothing); None for anything else."""
    for magic, content_type, extension in _MAGIC:
        if data.startswith(magic):
            return content_type, extension
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


# --- the proof of work --------------------------------------------------------------------------

POW_ALGORITHM = "SHA-256"
POW_PREFIX = "00"  # the derived key's first byte: 256 attempts on average, a second or two
POW_LIFETIME = timedelta(minutes=30)


def pow_challenge(secret_key: str, *, token_nonce: str, now: datetime, cost: int) -> dict[str, Any]:
    """An ALTCHA challenge bound to one form (its token's nonce), signed with the secret key;
    `cost` is the hash's iterations per attempt."""
    challenge = altcha.create_challenge(
        POW_ALGORITHM,
        cost,
        key_prefix=POW_PREFIX,
        # Its lifetime by our clock (altcha's own `expires_at` is checked by the wall clock).
        data={"form": external_id(token_nonce), "until": int((now + POW_LIFETIME).timestamp())},
        hmac_secret=secret_key,
    )
    result: dict[str, Any] = challenge.to_dict()
    return result


def pow_solved(secret_key: str, payload: str, *, token_nonce: str, now: datetime) -> bool:
    """Whether `payload` (the widget's field) solves a challenge given out with this form, in
    time. The signature covers the form and the time, so neither can be changed."""
    try:
        parsed = altcha.Payload.from_base64(payload)
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
    data = parsed.challenge.parameters.data or {}
    if data.get("form") != external_id(token_nonce):
        return False
    if not isinstance(data.get("until"), int) or data["until"] < now.timestamp():
        return False
    return bool(altcha.verify_solution(parsed, secret_key).verified)
