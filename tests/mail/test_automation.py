"""Machine-made mail is recognised so the hub never answers it ("Never answer a machine")."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import Message
from email.policy import compat32
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
        ("From: a@b.se\nReturn-Path: <a@b.se>", Automation.NONE),
        ("From: a@b.se\nPrecedence: auto_reply", Automation.AUTO_REPLY),
        ("From: a@b.se\nX-Mailman-Version: 2.1.39", Automation.LIST),
        ("From: a@b.se\nX-ML-Name: kurs\nX-MLServer: fml [fml 4.0]", Automation.LIST),
        ("From: a@b.se\nX-Amz-Sns-Message-Id: 6f3b", Automation.NOTIFICATION),
        ("From: a@b.se\nSubject: Automatic reply: Hej", Automation.AUTO_REPLY),
        ("From: a@b.se\nSubject: Automatische Antwort: Hej", Automation.AUTO_REPLY),
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


@pytest.mark.parametrize(
    "body",
    [
        "THIS IS THE QMAIL-SEND PROGRAM at mx.example.",
        "Generated by Mail Delivery Software.",
        "permanent fatal errors occurred",
        "This is the qmaİl-send program at mx.example.",  # İ is an i to a case-blind match
        "Mail delivery ſoftware",  # and ſ an s
    ],
)
def test_phrases_only_mail_software_writes_make_a_bounce_in_any_case(body: str) -> None:
    assert classify(*message("From: anna@example.se\nSubject: Hej", body)) is Automation.BOUNCE


# --- Issue 13: the machine mail that slipped through, by class --------------------------------


def report(headers: str, parts: list[tuple[str, str]], *, kind: str = "report") -> Message:
    """A multipart/`kind` message (report-type in `kind`'s parameters) of (content type, body)."""
    body = "".join(f"--b\nContent-Type: {ctype}\n\n{text}\n" for ctype, text in parts)
    raw = f'{headers}\nMIME-Version: 1.0\nContent-Type: multipart/{kind}; boundary="b"\n\n'
    return message_from_bytes(f"{raw}{body}--b--\n".encode(), policy=compat32)


def plain(headers: str, body: str) -> Message:
    return message_from_bytes(f"{headers}\n\n{body}\n".encode(), policy=compat32)


@pytest.mark.parametrize(
    ("sender", "headers"),
    [
        # Subjects that say nothing about delivery: the sender alone says who wrote it.
        ("MAILER-DAEMON@mx.example.se", "From: MAILER-DAEMON@mx.example.se\nSubject: Re: Hej"),
        ("mailer-daemon@mx.example.se", "From: Mail Delivery System <mailer-daemon@mx.example.se>"),
        ("postmaster@kommun.example", "From: postmaster@kommun.example\nSubject: Re: Bemötande"),
        ("post_master@vtext.example", "From: post_master@vtext.example\nSubject: Re: Hej"),
        ("bounce-7f3@esp.example", 'From: "Mail Delivery Subsystem" <bounce-7f3@esp.example>'),
        (
            "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@kommun.example",
            "From: Microsoft Outlook\n <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e"
            "@kommun.example>\nSubject: Hej",
        ),
        (None, "From: MAILER-DAEMON\nSubject: Re: Hej"),
        (None, 'From: "" (Mail Delivery System)\nSubject: Hej'),
    ],
)
def test_the_mail_systems_own_senders_are_bounces_whatever_the_subject(
    sender: str | None, headers: str
) -> None:
    assert classify(plain(headers, "Hej"), sender) is Automation.BOUNCE


def test_postfix_errors_notice_to_the_postmaster_is_a_bounce() -> None:
    msg = plain(
        "From: MAILER-DAEMON@mx.kommun.example (Mail Delivery System)\n"
        "To: postmaster@mx.kommun.example\n"
        "Subject: Postfix SMTP server: errors from unknown[192.0.2.7]",
        "Transcript of session follows.\n\n Out: 220 mx.kommun.example ESMTP\n In: EHLO x\n",
    )
    assert classify(msg, "MAILER-DAEMON@mx.kommun.example") is Automation.BOUNCE
    # The subject alone, as a relay that rewrites the sender would leave it.
    msg.replace_header("From", "root@mx.kommun.example")
    assert classify(msg, "root@mx.kommun.example") is Automation.BOUNCE


@pytest.mark.parametrize(
    ("envelope", "expected"),
    [
        ("Return-Path: <>", Automation.BOUNCE),
        ("Return-Path: <MAILER-DAEMON>", Automation.BOUNCE),
        ("Return-Path: <MAILER-DAEMON@mx.example.jp>", Automation.BOUNCE),
        ("Return-Path: <kontakt@example.jp>", Automation.NONE),
    ],
)
def test_a_bounce_that_answers_with_re_is_found_by_its_null_sender_and_text(
    envelope: str, expected: Automation
) -> None:
    # A provider's own format: a `Re:` of the original, an ordinary sender, the original quoted.
    msg = plain(
        f"{envelope}\nFrom: info@example.jp\nSubject: Re: Synpunkt om hemtjänsten",
        "Your mail sent on: Tue, 10 Mar 2026 09:00:00 +0900\n"
        "    Could not be delivered to: <user@example.jp>\n    As their mailbox is full.\n\n"
        "> Hej! Jag har en synpunkt om hemtjänsten.\n",
    )
    assert classify(msg, "info@example.jp") is expected


def test_an_mbox_from_line_of_the_mailer_daemon_is_the_null_sender() -> None:
    msg = plain(
        "From MAILER-DAEMON Tue Mar 10 09:00:00 2026\nFrom: info@example.jp\nSubject: Re: Hej",
        "The user(s) account is temporarily over quota.\n\n<user@example.jp>: 550 user unknown",
    )
    assert classify(msg, "info@example.jp") is Automation.BOUNCE


def test_a_carriers_bounce_from_a_no_reply_address_quoting_the_original_is_a_bounce() -> None:
    msg = plain(
        "From: no-reply@mail.carrier.example\nSubject: Re: Synpunkt",
        "Your mail sent on: Tue, 10 Mar 2026 09:00:00 +0900\n"
        "    Could not be delivered to: <user@carrier.example>\n"
        "    As the remote domain doesnt exist.\n",
    )
    assert classify(msg, "no-reply@mail.carrier.example") is Automation.BOUNCE


def test_a_list_managers_rejection_quoting_the_original_is_a_bounce() -> None:
    headers = (
        "From: kurs-admin@lists.example.jp\nSubject: NOT MEMBER article from anna@example.se\n"
        "X-MLServer: fml [fml 4.0.3 release (20011202/4.0.3)]\nX-ML-Name: kurs\n"
        "Message-ID: <200103261210.FMLAAB12@lists.example.jp>"
    )
    body = (
        "You are not a member of this mailing list <kurs@lists.example.jp>.\n\n"
        "Original mail as follows:\n\nFrom: anna@example.se\nSubject: Hej\n\nHej!\n"
    )
    assert classify(plain(headers, body), "kurs-admin@lists.example.jp") is Automation.BOUNCE
    welcome = plain(headers.replace("NOT MEMBER article from", "Welcome,"), "Welcome to kurs.")
    assert classify(welcome, "kurs-admin@lists.example.jp") is Automation.LIST


DSN = "Reporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; x@example.se\nAction: failed"


HEJ = "From: info@example.se\nSubject: Hej"
DSN_REPORT = 'report; report-type="delivery-status"'


@pytest.mark.parametrize(
    ("kind", "parts"),
    [
        (DSN_REPORT, [("text/plain", "Sorry."), ("message/delivery-status", DSN)]),
        # Wrapped by the provider; the RFC 6533 (internationalised) report; returned headers.
        ("mixed", [("text/plain", "See below."), ("message/delivery-status", DSN)]),
        ("mixed", [("text/plain", "x"), ("message/global-delivery-status", DSN)]),
        ("mixed", [("text/plain", "x"), ("text/rfc822-headers", "From: a@b.se")]),
    ],
)
def test_delivery_status_reports_are_bounces_wherever_their_parts_sit(
    kind: str, parts: list[tuple[str, str]]
) -> None:
    assert classify(report(HEJ, parts, kind=kind), "info@example.se") is Automation.BOUNCE


def test_a_bounce_a_person_forwards_as_an_attachment_is_the_persons_mail() -> None:
    bounce = (
        "From: MAILER-DAEMON@mx.example\nSubject: Undelivered Mail Returned to Sender\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="in"\n\n'
        f"--in\nContent-Type: text/plain\n\nFailed.\n--in\nContent-Type: message/delivery-status"
        f"\n\n{DSN}\n--in--"
    )
    text = "Mitt mejl till handläggaren kom inte fram, se bilagan."
    msg = report(
        "From: anna@example.se\nSubject: Fwd: Undelivered Mail Returned to Sender",
        [("text/plain", text), ("message/rfc822", bounce)],
        kind="mixed",
    )
    assert classify(msg, "anna@example.se") is Automation.NONE


@pytest.mark.parametrize(
    "subject", ["Fwd: Undelivered Mail Returned to Sender", "VB: Olevererbart: Hej", "Fw: failure"]
)
def test_a_bounce_a_person_forwards_in_the_text_is_the_persons_mail(subject: str) -> None:
    body = (
        "Hej, mitt mejl kom inte fram. Vad gör jag?\n\n---------- Forwarded message ---------\n"
        "This message was created automatically by mail delivery software.\n"
        "A message that you sent could not be delivered to one or more of its recipients.\n"
    )
    assert classify(
        plain(f"From: anna@example.se\nSubject: {subject}", body), "anna@example.se"
    ) is (Automation.NONE)


ARF = (
    "Feedback-Type: abuse\nUser-Agent: SomeGenerator/1.0\nVersion: 1\n"
    "Original-Mail-From: <synpunkt@kommun.example>\nArrival-Date: Tue, 10 Mar 2026 09:00:00 +0000\n"
    "Source-IP: 192.0.2.1"
)


ORIGINAL = ("message/rfc822", "From: synpunkt@kommun.example\n\nHej")
JMRP = (
    "This is an email abuse report for an email message received from IP 192.0.2.1 on Tue, 10"
    " Mar 2026 09:00:00 -0800"
)


@pytest.mark.parametrize(
    ("headers", "kind", "parts"),
    [
        (
            "From: fbl@provider.example\nSubject: FW: Hej",
            "report; report-type=feedback-report",
            [("text/plain", "An abuse report."), ("message/feedback-report", ARF), ORIGINAL],
        ),
        # A provider's own format: multipart/mixed, the preface, the original attached.
        (
            "From: staff@mail.provider.example\nSubject: complaint about message from 192.0.2.1",
            "mixed",
            [("text/plain", JMRP), ORIGINAL],
        ),
        (
            "From: abuse@provider.example\nSubject: Report",
            "mixed",
            [("text/plain", "Hello"), ("message/feedback-report", ARF)],
        ),
        # The report's fields in the text, the report's part type lost on the way.
        ("From: abuse@provider.example\nSubject: Abuse", "mixed", [("text/plain", "Hej\n" + ARF)]),
    ],
)
def test_complaint_feedback_reports_are_complaints(
    headers: str, kind: str, parts: list[tuple[str, str]]
) -> None:
    assert classify(report(headers, parts, kind=kind), "x@provider.example") is (
        Automation.COMPLAINT
    )


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Complaint about message from my caseworker", "Jag vill klaga på ett meddelande."),
        ("Abuse report", "I want to report abuse. Feedback type: abuse. Version: 2 of my letter."),
        ("Brevet kom aldrig fram", "Mitt brev var olevererbart, user unknown stod det."),
        ("Rejected application", "The message you sent me said my address was a bad address."),
    ],
)
def test_people_writing_about_complaints_and_delivery_are_people(subject: str, body: str) -> None:
    assert classify(
        plain(f"From: anna@example.se\nSubject: {subject}", body), "anna@example.se"
    ) is (Automation.NONE)


SNS_JSON = (
    '{\n  "Type" : "Notification",\n  "MessageId" : "3f6c7a9b-0000-4000-8000-000000000001",\n'
    '  "TopicArn" : "arn:aws:sns:eu-north-1:123456789012:ses-bounces",\n'
    '  "Message" : "{\\"notificationType\\":\\"Bounce\\",\\"bounce\\":{\\"bounceType\\":'
    '\\"Permanent\\",\\"bouncedRecipients\\":[{\\"emailAddress\\":\\"x@example.se\\",'
    '\\"diagnosticCode\\":\\"smtp; 550 5.1.1 user unknown\\"}]}}"\n}\n\n--\n'
    "If you wish to stop receiving notifications from this topic, please click or visit the link"
)


@pytest.mark.parametrize(
    ("sender", "headers"),
    [
        (
            "no-reply@sns.amazonaws.com",
            "From: AWS Notifications <no-reply@sns.amazonaws.com>\n"
            "Subject: AWS Notification Message"
            "\nx-amz-sns-message-type: Notification\nx-amz-sns-topic-arn: arn:aws:sns:x",
        ),
        ("no-reply@sns.amazonaws.com", "From: no-reply@sns.amazonaws.com\nSubject: Hej"),
        ("events@relay.example", "From: events@relay.example\nSubject: Re: Hej"),  # the JSON alone
    ],
)
def test_a_notification_services_events_are_notifications(sender: str, headers: str) -> None:
    assert classify(plain(headers, SNS_JSON), sender) is Automation.NOTIFICATION


NO_REPLY_SENDERS = (
    "noreply@myndighet.example",
    "no-reply@x.example",
    "do-not-reply@x.example",
    "DoNotReply@x.example",
    "noreply+ticket-42@x.example",
    "svara-inte@x.example",
)


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ("Subject: Re: Synpunkt om hemtjänsten", "Ärendet är registrerat.", Automation.AUTO_REPLY),
        ("Subject: Ditt ärende\nIn-Reply-To: <a@b.se>", "Registrerat.", Automation.AUTO_REPLY),
        ("Subject: Ditt ärende", "Tack för ditt meddelande!", Automation.AUTO_REPLY),
        ("Subject: Your request", "This is an automated reply.", Automation.AUTO_REPLY),
        ("Subject: Nyhetsbrev mars", "Veckans nyheter från oss.", Automation.NO_REPLY),
    ],
)
def test_no_reply_senders_are_machines_auto_replies_when_they_answer(
    headers: str, body: str, expected: Automation
) -> None:
    for sender in NO_REPLY_SENDERS:
        assert classify(plain(f"From: {sender}\n{headers}", body), sender) is expected, sender


def test_a_sieve_rejection_is_a_bounce_and_a_read_receipt_an_auto_reply() -> None:
    mdn = [
        ("text/plain", "Your message was automatically rejected"),
        ("message/disposition-notification", "Disposition: automatic-action/MDN-sent; deleted"),
    ]
    kind = "report; report-type=disposition-notification"
    rejected = report(
        "From: Mail Delivery Subsystem <admin@x.example>\nSubject: Rejected", mdn, kind=kind
    )
    read = report("From: anna@example.se\nSubject: Läst: Hej", mdn, kind=kind)
    assert classify(rejected, "admin@x.example") is Automation.BOUNCE
    assert classify(read, "anna@example.se") is Automation.AUTO_REPLY


def test_a_bounce_text_in_its_charset_is_read() -> None:
    raw = (
        b"Return-Path: <>\nFrom: info@example.jp\nSubject: Re: Hej\nMIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=iso-2022-jp\n\n"
    ) + "宛先不明のため配信できませんでした。\n".encode("iso-2022-jp")
    assert classify(message_from_bytes(raw, policy=compat32), "info@example.jp") is (
        Automation.BOUNCE
    )


def test_a_person_whose_name_holds_no_reply_letters_is_a_person() -> None:
    for sender in ("bruno.responsible@example.se", "arnoreply@example.se"):
        assert classify(plain(f"From: {sender}\nSubject: Hej", "Hej"), sender) is Automation.NONE


def test_every_kind_fits_the_column_it_is_stored_in() -> None:
    assert all(len(kind.value) <= 16 for kind in Automation)  # messages.automation


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ("Subject: complaint about message from 192.0.2.25", Automation.COMPLAINT),
        ("Subject: complaint about message from 2001:db8::25", Automation.COMPLAINT),
        ("Subject: Complaint about message from my caseworker", Automation.NONE),
        ("Subject: Unsubscribe\nX-Apple-Unsubscribe: true", Automation.COMPLAINT),
        ("Subject: [BOUNCE]", Automation.BOUNCE),
    ],
)
def test_what_a_subject_or_header_alone_tells(headers: str, expected: Automation) -> None:
    msg = plain(f"From: someone@provider.example\n{headers}", "Hej")
    assert classify(msg, "someone@provider.example") is expected


@pytest.mark.parametrize(
    "body",
    [
        "   ----- The following addresses had delivery problems -----\nuser@example.jp\n",
        "Your message:\n   From: a@b.se\n\nCould not be delivered because of\n\n550 5.1.1 User unknown",
        "Body of message generated response:\n\nUnknown user: user@example.jp\n\n"
        "Original message follows.",
        "We had trouble delivering your message. Full details follow:\n",
    ],
)
def test_more_mail_systems_own_words_are_read_when_the_envelope_is_null(body: str) -> None:
    msg = plain("Return-Path: <>\nFrom: info@example.jp\nSubject: Re: Hej", body)
    assert classify(msg, "info@example.jp") is Automation.BOUNCE
    msg.replace_header("Return-Path", "<info@example.jp>")  # a person's envelope: no gate
    assert classify(msg, "info@example.jp") is Automation.NONE
