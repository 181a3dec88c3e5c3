"""Machine-made mail is recognised so the hub never answers it ("Never answer a machine")."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from inbox.core.inbound import Automation
from mail.automation import classify

FLUFL = Path(__file__).resolve().parents[1] / "corpora" / "email" / "flufl.bounce"
# A normal human reply that happens to sit in the bounce collection.
HUMAN_REPLIES = {"groupwise_03.txt"}


def message(headers: str, body: str = "Hello") -> tuple:
    msg = message_from_bytes(f"{headers}\n\n{body}\n".encode(), policy=policy.default)
    return msg, "anna@example.se"


@pytest.mark.parametrize("path", sorted(FLUFL.glob("*.txt")), ids=lambda p: p.name)
def test_every_flufl_bounce_is_automated(path: Path) -> None:
    msg = message_from_bytes(path.read_bytes(), policy=policy.default)
    verdict = classify(msg, None)
    if path.name in HUMAN_REPLIES:
        assert verdict is Automation.NONE
    else:
        assert verdict is not Automation.NONE


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ("From: a@b.se\nSubject: Hej", Automation.NONE),
        ("From: a@b.se\nAuto-Submitted: no", Automation.NONE),
        ("From: a@b.se\nAuto-Submitted: auto-replied", Automation.AUTO_REPLY),
        ("From: a@b.se\nAuto-Submitted: auto-generated", Automation.AUTO_REPLY),
        ("From: a@b.se\nX-Autoreply: yes", Automation.AUTO_REPLY),
        ("From: a@b.se\nX-Autorespond: yes", Automation.AUTO_REPLY),
        ("From: a@b.se\nX-Auto-Response-Suppress: All", Automation.AUTO_REPLY),
        ("From: a@b.se\nSubject: Autosvar: Semester", Automation.AUTO_REPLY),
        ("From: a@b.se\nSubject: Out of Office: back Monday", Automation.AUTO_REPLY),
        ("From: a@b.se\nPrecedence: bulk", Automation.BULK),
        ("From: a@b.se\nPrecedence: junk", Automation.BULK),
        ("From: a@b.se\nX-Precedence: bulk", Automation.BULK),
        ("From: a@b.se\nPrecedence: list", Automation.LIST),
        ("From: a@b.se\nList-Id: <news.example.se>", Automation.LIST),
        ("From: a@b.se\nList-Unsubscribe: <mailto:u@example.se>", Automation.LIST),
        ("From: a@b.se\nX-Failed-Recipients: x@y.se", Automation.BOUNCE),
        ("From: MAILER-DAEMON@mx.se\nSubject: Returned mail: User unknown", Automation.BOUNCE),
        ("From: postmaster@mx.se\nSubject: Undeliverable: Hej", Automation.BOUNCE),
        ("From: a@b.se\nReturn-Path: <>", Automation.NULL_SENDER),
    ],
)
def test_headers_decide_the_verdict(headers: str, expected: Automation) -> None:
    assert classify(*message(headers)) is expected


def test_null_sender_alone_is_not_a_bounce() -> None:
    msg, sender = message("From: spam@example.com\nReturn-Path: <>\nSubject: Cheap loans")
    assert classify(msg, sender) is Automation.NULL_SENDER


def test_delivery_status_report_is_a_bounce() -> None:
    raw = (
        "From: MAILER-DAEMON@mx.example\nSubject: Hi\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nFailed.\n"
        "--b\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; x@y.se\nAction: failed\n"
        "--b--\n"
    )
    msg = message_from_bytes(raw.encode(), policy=policy.default)
    assert classify(msg, "MAILER-DAEMON@mx.example") is Automation.BOUNCE


def test_read_receipt_is_an_auto_reply_not_a_bounce() -> None:
    raw = (
        "From: a@b.se\nSubject: Read: Hej\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nRead.\n--b--\n"
    )
    msg = message_from_bytes(raw.encode(), policy=policy.default)
    assert classify(msg, "a@b.se") is Automation.AUTO_REPLY


def test_qmail_bounce_text_is_recognised_without_headers() -> None:
    body = "Hi. This is the qmail-send program at mx.example.\nI'm afraid I wasn't able to deliver"
    assert classify(*message("From: someone@mx.example\nSubject: failure", body)) is (
        Automation.BOUNCE
    )


def test_a_person_forwarding_a_bounce_is_still_a_person() -> None:
    headers = "From: anna@example.se\nSubject: Fwd: Undelivered Mail Returned to Sender"
    assert classify(*message(headers, "Why did my mail not arrive?")) is Automation.NONE
