"""compose_email(): the exact headers and body of outgoing mail, built without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from inbox.core.models import OutboxItem
from mail.compose import ComposeError, compose_email, to_bytes

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
MAIL_FROM = "Socialtjänsten i Exempelby <synpunkt@synpunkt.example>"
ACK_ID = "<sp-2026-0001.1741599000.42@synpunkt.example>"
TEXT = (
    "Hej!\n\nTack för att du hörde av dig till Socialtjänsten. Ditt ärendenummer är SP-2026-0001.\n"
    "Skicka inte personnummer eller uppgifter om hälsa med e-post. Åsa, Örjan och Ängelholm.\n"
)


def item(kind: str = "case.ack", **payload: Any) -> OutboxItem:
    fields: dict[str, Any] = {
        "subject": "[SP-2026-0001] Vi har tagit emot ditt meddelande",
        "text": TEXT,
        "message_id": ACK_ID,
        "in_reply_to": "<m1@example.se>",
        "references": ["<m0@example.se>", "<m1@example.se>"],
        "auto_submitted": "auto-replied",
        "languages": ["sv"],
    }
    fields.update(payload)
    return OutboxItem(
        id=7,
        kind=kind,
        channel="email",
        recipient="anna@example.se",
        payload=fields,
        idempotency_key=f"{kind}:SP-2026-0001",
    )


def parsed(msg: EmailMessage) -> EmailMessage:
    """The message as a receiving mail program sees it, after the wire."""
    result = message_from_bytes(to_bytes(msg), policy=policy.default)
    assert isinstance(result, EmailMessage)
    return result


def test_acknowledgement_has_every_threading_and_automation_header() -> None:
    msg = parsed(compose_email(item(), mail_from=MAIL_FROM, now=NOW))
    assert msg["From"] == MAIL_FROM
    assert msg["To"] == "anna@example.se"
    assert msg["Subject"] == "[SP-2026-0001] Vi har tagit emot ditt meddelande"
    assert msg["Date"] == "Tue, 10 Mar 2026 09:30:00 +0000"
    assert msg["Message-ID"] == ACK_ID
    assert msg["In-Reply-To"] == "<m1@example.se>"
    assert msg["References"] == "<m0@example.se> <m1@example.se>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Content-Language"] == "sv"
    assert msg["Precedence"] is None


def test_message_id_is_the_one_fixed_at_enqueue_on_every_compose() -> None:
    first = compose_email(item(), mail_from=MAIL_FROM, now=NOW)
    again = compose_email(item(), mail_from=MAIL_FROM, now=NOW.replace(hour=15))
    assert first["Message-ID"] == again["Message-ID"] == ACK_ID


def test_swedish_text_round_trips_as_utf8_plain_text() -> None:
    msg = parsed(compose_email(item(), mail_from=MAIL_FROM, now=NOW))
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg.get_content().replace("\r\n", "\n") == TEXT
    assert msg["MIME-Version"] == "1.0"


def test_wire_form_is_seven_bit_with_crlf_line_endings() -> None:
    composed = compose_email(item(subject="[SP-2026-0001] Åtgärd"), mail_from=MAIL_FROM, now=NOW)
    data = to_bytes(composed)
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert parsed(composed)["Subject"] == "[SP-2026-0001] Åtgärd"


def test_acknowledgement_without_auto_submitted_in_payload_is_auto_replied() -> None:
    ack = item()
    del ack.payload["auto_submitted"]
    assert compose_email(ack, mail_from=MAIL_FROM, now=NOW)["Auto-Submitted"] == "auto-replied"


def test_staff_reply_carries_no_auto_submitted_and_no_suppression() -> None:
    msg = compose_email(item("case.reply", auto_submitted=None), mail_from=MAIL_FROM, now=NOW)
    assert msg["Auto-Submitted"] is None
    assert msg["X-Auto-Response-Suppress"] is None
    assert msg["Message-ID"] == ACK_ID


def test_check_in_is_marked_auto_generated() -> None:
    checkin = item("followup.checkin", auto_submitted=None, in_reply_to=None, references=[])
    msg = compose_email(checkin, mail_from=MAIL_FROM, now=NOW)
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Auto-Response-Suppress"] == "All"


def test_first_message_without_reply_headers_has_neither() -> None:
    msg = compose_email(item(in_reply_to=None, references=[]), mail_from=MAIL_FROM, now=NOW)
    assert msg["In-Reply-To"] is None and msg["References"] is None


def test_bare_message_ids_get_angle_brackets_and_references_end_with_the_parent() -> None:
    msg = compose_email(
        item(message_id="sp-1@synpunkt.example", in_reply_to="m2@example.se", references=["m1@x"]),
        mail_from=MAIL_FROM,
        now=NOW,
    )
    assert msg["Message-ID"] == "<sp-1@synpunkt.example>"
    assert msg["In-Reply-To"] == "<m2@example.se>"
    assert msg["References"] == "<m1@x> <m2@example.se>"


def test_line_breaks_in_the_subject_cannot_inject_headers() -> None:
    msg = parsed(
        compose_email(
            item(subject="[SP-2026-0001] Hej\r\nBcc: eve@example.org"), mail_from=MAIL_FROM, now=NOW
        )
    )
    assert msg["Bcc"] is None
    assert msg["Subject"] == "[SP-2026-0001] Hej Bcc: eve@example.org"


def test_item_without_message_id_cannot_be_composed() -> None:
    with pytest.raises(ComposeError):
        compose_email(item(message_id=None), mail_from=MAIL_FROM, now=NOW)
