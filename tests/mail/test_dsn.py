"""Reading bounces (mail/dsn.py): which message a report is about, and what became of whom.

Reports written here after the formats of real mail systems (Postfix's RFC 3464 report, Exim's
text with X-Failed-Recipients, qmail's, a virus scanner wrapping a report), and GNU Mailman's
collection of real bounces in tests/corpora/email/flufl.bounce with the addresses its detectors
find (the corpora README lists them), whose hit rate is reported.
"""

from __future__ import annotations

import re
from functools import cache

import pytest

from inbox.core.inbound import Automation, DeliveryReport, ReportedRecipient
from mail.parse import parse_email
from tests.conftest import CORPORA, MATCH_RATE
from tests.factories import bounce_of

ACK = (
    b"From: =?utf-8?q?Socialtj=C3=A4nsten?= <synpunkt@synpunkt.example>\r\n"
    b"To: anna@example.se\r\n"
    b"Subject: [SP-2026-0001] Vi har tagit emot ditt meddelande\r\n"
    b"Message-ID: <177.1.2.sp-2026-0001@synpunkt.example>\r\n"
    b"Auto-Submitted: auto-replied\r\n"
    b"\r\n"
    b"Hej! Vi har tagit emot ditt meddelande.\r\n"
)
ACK_ID = "177.1.2.sp-2026-0001@synpunkt.example"


def report_of(raw: bytes) -> DeliveryReport:
    message = parse_email(raw)
    assert message.automation is Automation.BOUNCE
    assert message.delivery_report is not None
    return message.delivery_report


@pytest.mark.parametrize("quoted", ["text/rfc822-headers", "message/rfc822"])
def test_a_delivery_status_report_names_our_message_and_the_hard_failure(quoted: str) -> None:
    report = report_of(bounce_of(ACK, recipient="anna@example.se", quoted=quoted))
    assert report.structured
    assert report.original_ids == (ACK_ID,)
    [recipient] = report.recipients
    assert recipient == ReportedRecipient(
        address="anna@example.se",
        action="failed",
        status="5.1.1",
        diagnostic="550 5.1.1 <anna@example.se>: Recipient address rejected: User unknown",
    )
    assert recipient.hard and report.worst == recipient


def test_a_delay_warning_is_a_soft_report() -> None:
    raw = bounce_of(
        ACK,
        recipient="anna@example.se",
        action="delayed",
        status="4.4.1",
        diagnostic="smtp; 451 4.4.1 mail.example.se: connection timed out",
    )
    [recipient] = report_of(raw).recipients
    assert (recipient.action, recipient.status) == ("delayed", "4.4.1")
    assert recipient.failed and not recipient.hard


def test_the_worst_of_several_recipients_is_the_hard_failure() -> None:
    report = DeliveryReport(
        recipients=(
            ReportedRecipient("a@example.se", action="delivered", status="2.0.0"),
            ReportedRecipient("b@example.se", action="delayed", status="4.2.2"),
            ReportedRecipient("c@example.se", action="failed", status="5.2.1"),
        )
    )
    assert report.worst is not None and report.worst.address == "c@example.se"
    assert DeliveryReport(recipients=report.recipients[:1]).worst is None


def test_a_status_missing_from_its_field_is_read_from_the_servers_answer() -> None:
    raw = bounce_of(
        ACK,
        recipient="anna@example.se",
        status="failed",  # not a status code, as some servers write it
        action="failure",  # and "failure" for "failed"
        diagnostic="smtp; 550 Mailbox unavailable",
    )
    [recipient] = report_of(raw).recipients
    assert (recipient.action, recipient.status) == ("failed", "5.0.0")


def test_a_person_forwarding_our_acknowledgement_is_no_report() -> None:
    # "Forward as attachment": a message/rfc822 part with our Message-ID, from a person.
    raw = (
        b"From: Anna <anna@example.se>\r\nTo: synpunkt@synpunkt.example\r\n"
        b"Subject: Fwd: [SP-2026-0001] Vi har tagit emot ditt meddelande\r\n"
        b"Message-ID: <fwd.1@example.se>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSe nedan, det kom aldrig fram.\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + ACK + b"\r\n--b--\r\n"
    )
    message = parse_email(raw)
    assert message.automation is Automation.NONE
    assert message.delivery_report is None


def test_exims_text_report_names_the_address_status_and_quoted_message() -> None:
    raw = (
        b"Return-Path: <>\r\nFrom: Mail Delivery System <Mailer-Daemon@mx.example.org>\r\n"
        b"To: synpunkt@synpunkt.example\r\nSubject: Mail delivery failed: returning message"
        b" to sender\r\nX-Failed-Recipients: emma@example.org\r\n"
        b"Message-ID: <E1x@mx.example.org>\r\n\r\n"
        b"This message was created automatically by mail delivery software.\r\n\r\n"
        b"A message that you sent could not be delivered to one or more of its\r\n"
        b"recipients. This is a permanent error. The following address(es) failed:\r\n\r\n"
        b"  emma@example.org\r\n    host mail.example.org [192.0.2.7]\r\n"
        b"    SMTP error from remote mail server after RCPT TO:<emma@example.org>:\r\n"
        b"    550 5.2.1 Mailbox disabled\r\n\r\n"
        b"------ This is a copy of the message, including all the headers. ------\r\n\r\n" + ACK
    )
    report = report_of(raw)
    assert not report.structured
    assert report.original_ids == (ACK_ID,)
    [recipient] = report.recipients
    assert (recipient.address, recipient.action, recipient.status) == (
        "emma@example.org",
        "failed",
        "5.2.1",
    )
    assert recipient.diagnostic is not None and "Mailbox disabled" in recipient.diagnostic


def test_qmails_report_says_whom_it_failed_and_a_warning_is_soft() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\r\nTo: synpunkt@synpunkt.example\r\n"
        b"Subject: failure notice\r\n\r\n"
        b"Hi. This is the qmail-send program at mx.example.net.\r\n"
        b"I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
        b"This is a temporary error; I will keep trying.\r\n\r\n"
        b"<ali@example.net>:\r\nConnected but the mailbox is full (#4.2.2)\r\n\r\n"
        b"--- Below this line is a copy of the message.\r\n\r\n" + ACK
    )
    report = report_of(raw)
    assert report.original_ids == (ACK_ID,)
    [recipient] = report.recipients
    assert (recipient.address, recipient.action, recipient.status) == (
        "ali@example.net",
        "delayed",
        "4.2.2",
    )


def test_a_report_a_virus_scanner_wrapped_is_read_inside() -> None:
    inner = bounce_of(ACK, recipient="anna@example.se")
    raw = (
        b"From: postmaster@scanner.example.se\r\nTo: synpunkt@synpunkt.example\r\n"
        b"Subject: Delivery Status Notification (Failure)\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="w"\r\n\r\n'
        b"--w\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--w--\r\n"
    )
    report = report_of(raw)
    assert report.structured and ACK_ID in report.original_ids
    assert [r.address for r in report.recipients] == ["anna@example.se"]


def test_a_global_delivery_status_in_utf8_is_read() -> None:
    raw = bounce_of(ACK, recipient="åsa@exempel.se").replace(
        b"Content-Type: message/delivery-status", b"Content-Type: message/global-delivery-status"
    )
    raw = raw.replace(b"rfc822; \xc3\xa5sa", b"utf-8; \xc3\xa5sa")
    [recipient] = report_of(raw).recipients
    assert (recipient.address, recipient.status) == ("åsa@exempel.se", "5.1.1")


def test_what_a_report_says_fits_the_columns() -> None:
    raw = bounce_of(
        ACK, recipient="anna@example.se", diagnostic="smtp; 550 5.1.1 nej\x00 " + "x" * 5000
    )
    [recipient] = report_of(raw).recipients
    assert recipient.diagnostic is not None
    assert "\x00" not in recipient.diagnostic and len(recipient.diagnostic) <= 1000


# --- GNU Mailman's bounces ------------------------------------------------------------------

FLUFL = CORPORA / "email" / "flufl.bounce"
# The corpora README's table (flufl.bounce 6.0.0's tests): `<file> <detector>:<P|T>:<addresses>`,
# P permanent, T temporary, "-" no address; detectors separated by " ; ".
README = CORPORA / "README.md"
_ROW = re.compile(r"^(\S+\.txt) (\S+:[PT]:.+)$", re.MULTILINE)
# Where our reading differs, and why (the file's format does not carry what flufl finds there).
MISSES = {
    "aol_01.txt": "names an AOL screen name without a domain; flufl adds @aol.com",
    "sendmail_01.txt": "the second address is only in `(expanded from: …)`",
    "yahoo_12.txt": "names the address only in a copy of the message's To: header",
    "yale_01.txt": "names a bare user name; flufl adds Yale's domains",
}
# Never fewer than this many files read exactly as flufl reads them, or DSNs with a status.
FLOOR = 107
STATUS_FLOOR = 18


@cache
def expected() -> dict[str, tuple[str, frozenset[str]]]:
    """File → (P or T, the addresses expected, lower-cased) for the files in this copy."""
    table: dict[str, tuple[str, frozenset[str]]] = {}
    for name, spec in _ROW.findall(README.read_text(encoding="utf-8")):
        if not (FLUFL / name).exists():
            continue
        addresses: set[str] = set()
        kinds = set()
        for detector in spec.split(" ; "):
            _, kind, found = detector.split(":", 2)
            if found != "-":
                addresses |= {a.lower() for a in found.split(",")}
                kinds.add(kind)
        table[name] = ("T" if kinds == {"T"} else "P", frozenset(addresses))
    return table


@cache
def found(name: str) -> DeliveryReport | None:
    return parse_email((FLUFL / name).read_bytes()).delivery_report


def addresses(report: DeliveryReport | None) -> frozenset[str]:
    return (
        frozenset(r.address.lower() for r in report.recipients if r.address)
        if report
        else frozenset()
    )


def test_every_flufl_bounce_but_a_persons_reply_is_read_as_a_report() -> None:
    assert len(expected()) >= 100  # the table was found
    for path in sorted(FLUFL.glob("*.txt")):
        message = parse_email(path.read_bytes())
        if path.name in ("groupwise_03.txt", "qmail_08.txt", "dumbass_01.txt"):
            continue  # a person's reply, an auto-reply, a list notice: no report to read
        assert message.delivery_report is not None, path.name


@pytest.mark.parametrize("name", sorted(expected()))
def test_flufl_failed_recipients_match_or_are_a_written_down_miss(name: str) -> None:
    _, wanted = expected()[name]
    report = found(name)
    if not wanted:
        return  # flufl finds no address either
    if name in MISSES:
        assert addresses(report) != wanted, "now read as flufl reads it: drop it from MISSES"
        return
    assert addresses(report) == wanted


def test_flufl_hit_rate_and_statuses_never_drop(request: pytest.FixtureRequest) -> None:
    table = {name: row for name, row in expected().items() if row[1]}
    hits = [name for name in table if addresses(found(name)) == table[name][1]]
    dsns = [name for name in table if name.startswith("dsn_")]
    with_status = [
        name for name in dsns if (r := found(name)) and r.worst and r.worst.status is not None
    ]
    # Hard (5.x.x, or failed without a status) against flufl's permanent, soft against temporary.
    agreeing = [
        name
        for name in hits
        if (r := found(name)) and r.worst and r.worst.hard == (table[name][0] == "P")
    ]
    for line in (
        f"flufl.bounce failed recipients: {len(hits)}/{len(table)} as flufl finds them",
        f"flufl.bounce RFC 3464 reports with a status: {len(with_status)}/{len(dsns)}",
        f"flufl.bounce hard/soft as flufl's permanent/temporary: {len(agreeing)}/{len(hits)}",
    ):
        request.node.user_properties.append((MATCH_RATE, line))
    assert len(hits) >= FLOOR
    assert len(with_status) >= STATUS_FLOOR
