"""EmailSender: `.eml` files in a folder, and real SMTP conversations with aiosmtpd on loopback.

Each SMTP test starts its own aiosmtpd server on an ephemeral port with a handler that answers as
the scenario needs (accept, 550 or 451 at RCPT, a rejection at DATA).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from inbox.core.models import OutboxItem
from inbox.runners.delivery import PermanentFailure, TemporaryFailure
from mail.sender import (
    EmailSender,
    FileTransport,
    SmtpTransport,
    parse_transport,
    write_atomically,
)
from tests.conftest import Clock
from tests.mail.certificates import Certificate, self_signed

MAIL_FROM = "Socialtjänsten <synpunkt@synpunkt.example>"


def ack(n: int = 1, recipient: str = "anna@example.se") -> OutboxItem:
    return OutboxItem(
        id=n,
        kind="case.ack",
        channel="email",
        recipient=recipient,
        payload={
            "subject": f"[SP-2026-{n:04d}] Vi har tagit emot ditt meddelande",
            "text": "Hej!\n\nTack för att du hörde av dig. Ärendenummer SP-2026-0001.\n",
            "message_id": f"<sp-2026-{n:04d}.1.2@synpunkt.example>",
            "in_reply_to": f"<m{n}@example.se>",
            "references": [f"<m{n}@example.se>"],
            "auto_submitted": "auto-replied",
            "languages": ["sv"],
        },
        idempotency_key=f"case.ack:SP-2026-{n:04d}",
    )


def read_eml(path: Path) -> EmailMessage:
    msg = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def eml_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.suffix == ".eml")


def names(folder: Path) -> list[str]:
    """Everything in the folder, temporary files included."""
    return sorted(path.name for path in folder.iterdir())


# Transport URLs ---------------------------------------------------------------------------------


def test_relative_file_transport_is_relative_to_the_working_directory(tmp_path: Path) -> None:
    assert parse_transport("file://var/outbox", cwd=tmp_path) == FileTransport(
        tmp_path / "var" / "outbox"
    )


def test_absolute_file_transport_keeps_its_path(tmp_path: Path) -> None:
    assert parse_transport(f"file://{tmp_path}/out") == FileTransport(tmp_path / "out")


def test_smtp_transport_with_credentials_and_default_ports() -> None:
    assert parse_transport("smtp://relay.kommun.se") == SmtpTransport("relay.kommun.se", 25)
    assert parse_transport("smtps://u%40k:p%3Ass@relay.kommun.se:2465") == SmtpTransport(
        "relay.kommun.se", 2465, use_tls=True, username="u@k", password="p:ss"
    )
    assert parse_transport("smtps://relay.kommun.se").port == 465  # type: ignore[union-attr]


def test_unknown_transport_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown mail transport"):
        parse_transport("http://relay.kommun.se")


# File transport ---------------------------------------------------------------------------------


async def test_file_transport_writes_one_parseable_eml_per_item_named_by_its_message_id(
    tmp_path: Path, clock: Clock
) -> None:
    folder = tmp_path / "not" / "there" / "yet"
    sender = EmailSender(mail_from=MAIL_FROM, transport=f"file://{folder}", clock=clock)
    await sender.send(ack(1))
    await sender.send(ack(2))
    files = eml_files(folder)
    assert [f.name for f in files] == [
        "sp-2026-0001.1.2@synpunkt.example.eml",
        "sp-2026-0002.1.2@synpunkt.example.eml",
    ]
    first = read_eml(files[0])
    assert first["Message-ID"] == "<sp-2026-0001.1.2@synpunkt.example>"
    assert first["To"] == "anna@example.se"
    assert first["Auto-Submitted"] == "auto-replied"
    assert "Tack för att du hörde av dig." in first.get_content()


async def test_a_resent_item_replaces_its_file_rather_than_adding_one(
    tmp_path: Path, clock: Clock
) -> None:
    # A worker wrote the file and died before marking the row sent; the next one sends it again.
    sender = EmailSender(mail_from=MAIL_FROM, transport=f"file://{tmp_path}", clock=clock)
    await sender.send(ack(1))
    clock.advance(minutes=5)
    await sender.send(ack(1))
    [only] = eml_files(tmp_path)
    assert read_eml(only)["Message-ID"] == "<sp-2026-0001.1.2@synpunkt.example>"
    assert read_eml(only)["Date"] == "Tue, 10 Mar 2026 09:35:00 +0000"  # the resend
    assert names(tmp_path) == [only.name]  # no temporary file left


@pytest.mark.parametrize(
    "message_id",
    [
        "<../../escape@synpunkt.example>",
        "<a/b@synpunkt.example>",
        "<.hidden@x>",
        f"<{'x' * 300}@x>",
    ],
)
async def test_a_message_id_unfit_for_a_file_name_still_gives_one_file_inside_the_folder(
    tmp_path: Path, clock: Clock, message_id: str
) -> None:
    folder = tmp_path / "out"
    sender = EmailSender(mail_from=MAIL_FROM, transport=f"file://{folder}", clock=clock)
    item = ack()
    item.payload = {**item.payload, "message_id": message_id}
    await sender.send(item)
    await sender.send(item)
    [only] = eml_files(folder)
    assert only.parent == folder and not only.name.startswith(".") and len(only.name) <= 255
    assert read_eml(only)["Message-ID"] == message_id
    assert names(tmp_path) == ["out"]


async def test_message_ids_that_differ_only_in_unsafe_characters_get_different_files(
    tmp_path: Path, clock: Clock
) -> None:
    sender = EmailSender(mail_from=MAIL_FROM, transport=f"file://{tmp_path}", clock=clock)
    for message_id in ("<a/b@x>", "<a|b@x>", "<a_b@x>"):
        item = ack()
        item.payload = {**item.payload, "message_id": message_id}
        await sender.send(item)
    assert len(eml_files(tmp_path)) == 3


def test_a_failed_write_leaves_no_file_behind(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_atomically(tmp_path, "x.eml", "not bytes")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


async def test_unwritable_folder_is_a_temporary_failure(tmp_path: Path, clock: Clock) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    sender = EmailSender(mail_from=MAIL_FROM, transport=f"file://{blocker}/out", clock=clock)
    with pytest.raises(TemporaryFailure):
        await sender.send(ack())


async def test_item_without_message_id_is_a_permanent_failure(tmp_path: Path, clock: Clock) -> None:
    item = ack()
    item.payload = {**item.payload, "message_id": None}
    sender = EmailSender(mail_from=MAIL_FROM, transport=f"file://{tmp_path}", clock=clock)
    with pytest.raises(PermanentFailure) as failure:
        await sender.send(item)
    assert not failure.value.unreachable


# SMTP transport ---------------------------------------------------------------------------------


@dataclass
class Relay:
    """An aiosmtpd handler that records what it accepts and answers as told."""

    rcpt_reply: str | None = None
    data_reply: str | None = None
    hold: asyncio.Event | None = None  # DATA is answered only once it is set
    in_data: asyncio.Event = field(default_factory=asyncio.Event)  # DATA has come in
    received: list[Envelope] = field(default_factory=list)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)
    encrypted: list[bool] = field(default_factory=list)  # per login: over TLS or not

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.in_data.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.data_reply is not None:
            return self.data_reply
        self.received.append(envelope)
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        assert server.transport is not None
        self.encrypted.append(server.transport.get_extra_info("cipher") is not None)
        return AuthResult(success=data.password == b"hemligt:ord", handled=False)


@asynccontextmanager
async def relay_on_loopback(
    relay: Relay,
    *,
    with_auth: bool = False,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
) -> AsyncIterator[int]:
    """A relay on loopback: AUTH offered (over TLS or not), STARTTLS offered, or TLS from the start."""
    loop = asyncio.get_running_loop()
    options: dict[str, Any] = {"tls_context": starttls}
    if with_auth:
        # Offered in clear too, as a careless or tampered-with relay would: the sender must say no.
        options |= {"authenticator": relay.authenticate, "auth_require_tls": False}
    server = await loop.create_server(
        lambda: SMTP(relay, hostname="relay.test.local", **options),
        "127.0.0.1",
        0,
        ssl=implicit_tls,
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def smtp_sender(
    port: int,
    clock: Clock,
    *,
    userinfo: str = "",
    scheme: str = "smtp",
    trust: Certificate | None = None,
) -> EmailSender:
    return EmailSender(
        mail_from=MAIL_FROM,
        transport=f"{scheme}://{userinfo}127.0.0.1:{port}",
        clock=clock,
        timeout=10,
        tls_context=trust.client_context() if trust is not None else None,
    )


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    return self_signed(tmp_path)


def server_context(certificate: Certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate.cert, certificate.key)
    return context


async def test_smtp_delivers_the_composed_message_to_the_relay(clock: Clock) -> None:
    relay = Relay()
    async with relay_on_loopback(relay) as port:
        await smtp_sender(port, clock).send(ack())
    [envelope] = relay.received
    assert envelope.mail_from == "synpunkt@synpunkt.example"
    assert envelope.rcpt_tos == ["anna@example.se"]
    assert isinstance(envelope.content, bytes)
    msg = message_from_bytes(envelope.content, policy=policy.default)
    assert msg["Message-ID"] == "<sp-2026-0001.1.2@synpunkt.example>"
    assert msg["In-Reply-To"] == "<m1@example.se>"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Subject"] == "[SP-2026-0001] Vi har tagit emot ditt meddelande"


async def test_a_resent_item_reaches_the_relay_with_the_same_message_id(clock: Clock) -> None:
    # The relay accepted the first copy but the worker died before marking the row sent: the
    # resend is the same message, so the receiving side can drop it as a repeat.
    relay = Relay()
    async with relay_on_loopback(relay) as port:
        sender = smtp_sender(port, clock)
        await sender.send(ack())
        clock.advance(minutes=5)
        await sender.send(ack())
    ids = [
        message_from_bytes(e.content, policy=policy.default)["Message-ID"] for e in relay.received
    ]  # type: ignore[arg-type]
    assert ids == ["<sp-2026-0001.1.2@synpunkt.example>"] * 2


async def test_smtp_credentials_from_the_url_are_used_to_log_in_after_starttls(
    clock: Clock, certificate: Certificate
) -> None:
    relay = Relay()
    tls = server_context(certificate)
    async with relay_on_loopback(relay, with_auth=True, starttls=tls) as port:
        sender = smtp_sender(port, clock, userinfo="synpunkt:hemligt%3Aord@", trust=certificate)
        await sender.send(ack())
    assert relay.logins == [(b"synpunkt", b"hemligt:ord")]
    assert relay.encrypted == [True]
    assert len(relay.received) == 1


async def test_smtps_credentials_are_used_over_tls_from_the_start(
    clock: Clock, certificate: Certificate
) -> None:
    relay = Relay()
    tls = server_context(certificate)
    async with relay_on_loopback(relay, with_auth=True, implicit_tls=tls) as port:
        sender = smtp_sender(
            port, clock, userinfo="synpunkt:hemligt%3Aord@", scheme="smtps", trust=certificate
        )
        await sender.send(ack())
    assert relay.encrypted == [True]
    assert len(relay.received) == 1


async def test_credentials_are_never_sent_to_a_relay_that_does_not_offer_starttls(
    clock: Clock,
) -> None:
    # A relay that offers AUTH in clear, or whose STARTTLS a man in the middle has stripped.
    relay = Relay()
    async with relay_on_loopback(relay, with_auth=True) as port:
        sender = smtp_sender(port, clock, userinfo="synpunkt:hemligt%3Aord@")
        with pytest.raises(TemporaryFailure, match="does not offer STARTTLS") as failure:
            await sender.send(ack())
    assert "hemligt" not in str(failure.value)
    assert relay.logins == []  # no AUTH command at all
    assert relay.received == []


async def test_credentials_are_not_sent_to_a_relay_whose_certificate_is_not_trusted(
    clock: Clock, certificate: Certificate
) -> None:
    relay = Relay()
    tls = server_context(certificate)
    async with relay_on_loopback(relay, with_auth=True, starttls=tls) as port:
        with pytest.raises(TemporaryFailure):
            await smtp_sender(port, clock, userinfo="synpunkt:hemligt%3Aord@").send(ack())
    assert relay.logins == []
    assert relay.received == []


async def test_without_credentials_a_relay_without_starttls_gets_the_mail_in_plain(
    clock: Clock,
) -> None:
    relay = Relay()
    async with relay_on_loopback(relay) as port:
        await smtp_sender(port, clock).send(ack())
    assert len(relay.received) == 1


async def test_wrong_smtp_credentials_keep_the_item_for_a_retry(
    clock: Clock, certificate: Certificate
) -> None:
    relay = Relay()
    tls = server_context(certificate)
    async with relay_on_loopback(relay, with_auth=True, starttls=tls) as port:
        with pytest.raises(TemporaryFailure):
            await smtp_sender(port, clock, userinfo="synpunkt:fel@", trust=certificate).send(ack())
    assert set(relay.logins) == {(b"synpunkt", b"fel")}  # one try per mechanism, all over TLS
    assert all(relay.encrypted)
    assert relay.received == []


async def test_recipient_refused_with_550_is_permanent_and_unreachable(clock: Clock) -> None:
    relay = Relay(rcpt_reply="550 5.1.1 <anna@example.se>: no such user")
    async with relay_on_loopback(relay) as port:
        with pytest.raises(PermanentFailure) as failure:
            await smtp_sender(port, clock).send(ack())
    assert failure.value.unreachable
    assert "550" in str(failure.value)


async def test_recipient_refused_with_554_policy_is_permanent_but_reachable(clock: Clock) -> None:
    relay = Relay(rcpt_reply="554 5.7.1 relay access denied")
    async with relay_on_loopback(relay) as port:
        with pytest.raises(PermanentFailure) as failure:
            await smtp_sender(port, clock).send(ack())
    assert not failure.value.unreachable


async def test_recipient_deferred_with_451_is_temporary(clock: Clock) -> None:
    relay = Relay(rcpt_reply="451 4.7.1 greylisted, try again later")
    async with relay_on_loopback(relay) as port:
        with pytest.raises(TemporaryFailure, match="451"):
            await smtp_sender(port, clock).send(ack())


async def test_data_deferred_with_451_is_temporary(clock: Clock) -> None:
    relay = Relay(data_reply="451 4.3.0 local error in processing")
    async with relay_on_loopback(relay) as port:
        with pytest.raises(TemporaryFailure, match="451"):
            await smtp_sender(port, clock).send(ack())


async def test_data_rejected_with_554_is_permanent_but_reachable(clock: Clock) -> None:
    relay = Relay(data_reply="554 5.6.0 message content rejected")
    async with relay_on_loopback(relay) as port:
        with pytest.raises(PermanentFailure) as failure:
            await smtp_sender(port, clock).send(ack())
    assert not failure.value.unreachable


async def test_a_send_cut_short_drops_the_connection_at_once_instead_of_waiting_to_quit(
    clock: Clock,
) -> None:
    # The worker's send timeout cancels a send whose DATA the relay has not answered: the sender
    # must give up then, not wait (up to its own timeout) for an answer to QUIT behind that DATA.
    relay = Relay(hold=asyncio.Event())
    async with relay_on_loopback(relay) as port:
        sender = EmailSender(
            mail_from=MAIL_FROM, transport=f"smtp://127.0.0.1:{port}", clock=clock, timeout=600
        )
        sending = asyncio.create_task(sender.send(ack()))
        try:
            await asyncio.wait_for(relay.in_data.wait(), timeout=60)
            sending.cancel()  # what the worker's send timeout does
            # 60 s guards against hanging; giving up takes no time at all.
            done, _ = await asyncio.wait({sending}, timeout=60)
            assert sending in done and sending.cancelled()
        finally:
            relay.hold.set()  # type: ignore[union-attr]
            await asyncio.gather(sending, return_exceptions=True)


async def test_refused_connection_is_temporary(clock: Clock) -> None:
    # A bound socket that never listens: connecting to its port is refused, and no other test
    # can take the port meanwhile.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        with pytest.raises(TemporaryFailure, match="cannot reach"):
            await smtp_sender(port, clock).send(ack())
