"""`synpunkt demo`: realistic sample mails sent through the real SMTP path — to the running
listener, or else through a listener and a worker of the command's own.

The people and addresses are invented (example.se is reserved for examples); the texts are the kind
of feedback social services receive, so a new user sees a working inbox at once.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import aiosmtplib

from inbox.cli.wiring import build_worker, utcnow
from inbox.core.db import create_engine, session_factory
from inbox.settings import Settings, split_listen

SAMPLES: list[dict[str, str]] = [
    {
        "from": "Karin Lund <karin.lund@example.se>",
        "subject": "Lång väntan på svar om försörjningsstöd",
        "body": "Hej!\n\nJag lämnade in min ansökan för fem veckor sedan och har inte fått något "
        "besked. Jag har ringt flera gånger men ingen ringer tillbaka. Hur lång tid ska det ta?\n\n"
        "Hälsningar\nKarin",
    },
    {
        "from": "Ahmed Hassan <ahmed.h@example.se>",
        "subject": "Tack till personalen på boendet",
        "body": "Hej,\n\nJag vill tacka personalen på äldreboendet där min mamma bor. De är alltid "
        "vänliga och tar sig tid att prata med henne. Det betyder mycket för oss.\n\nMvh Ahmed",
    },
    {
        "from": "Peter Berg <peter.berg@example.se>",
        "subject": "Förslag: sms-påminnelse inför möten",
        "body": "Hej!\n\nSkulle ni kunna skicka en påminnelse via sms dagen innan ett inbokat möte? "
        "Jag missade ett möte förra månaden och fick vänta tre veckor på en ny tid.\n\n/Peter",
    },
    {
        "from": "Emma Wilson <emma.wilson@example.org>",
        "subject": "Question about contacting my son's caseworker",
        "body": "Hello,\n\nI moved to Sweden recently and I do not understand how to reach the "
        "caseworker responsible for my son. Is there a phone time, or should I write here?\n\n"
        "Best regards,\nEmma",
    },
    {
        "from": "Anonym <anonym.synpunkt@example.se>",
        "subject": "Bemötande vid besök",
        "body": "Jag vill inte uppge mitt namn. Vid mitt besök på mottagningen i tisdags blev jag "
        "bemött på ett nedlåtande sätt i receptionen. Jag hoppas att ni tar upp det med personalen.",
    },
    {
        "from": "Lars Ek <lars.ek@example.se>",
        "subject": "Frånvaro: Re: Vi har tagit emot ditt meddelande",
        "body": "Jag är på semester till och med 14 augusti och läser inte min e-post.",
        "auto": "auto-replied",
    },
]


def build_sample(sample: dict[str, str], *, to: str, now: datetime) -> bytes:
    message = EmailMessage()
    message["From"] = sample["from"]
    message["To"] = to
    message["Subject"] = sample["subject"]
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain="demo.example.se")
    if "auto" in sample:
        message["Auto-Submitted"] = sample["auto"]
    message.set_content(sample["body"])
    return message.as_bytes()


async def send_demo_mails(*, host: str, port: int, to: str, count: int) -> int:
    """Delivers `count` samples (cycling through them) to the SMTP listener at host:port."""
    sent = 0
    async with aiosmtplib.SMTP(hostname=host, port=port, start_tls=False, timeout=30) as smtp:
        for index in range(count):
            sample = SAMPLES[index % len(SAMPLES)]
            raw = build_sample(sample, to=to, now=datetime.now(UTC))
            sender = sample["from"].rpartition("<")[2].rstrip(">")
            await smtp.sendmail(sender, [to], raw)
            sent += 1
    return sent


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Sends samples to the running listener; without one, through a listener of its own."""
    host, port = split_listen(settings.smtp_listen, 8025)
    to = settings.intake_addresses[0]
    try:
        sent = asyncio.run(send_demo_mails(host=host, port=port, to=to, count=args.count))
        print(f"sent {sent} sample messages to {to} via the listener on {host}:{port}")
    except OSError:
        from inbox.core.migrate import upgrade

        upgrade(settings.database_url)
        sent = asyncio.run(_demo_in_process(settings, count=args.count))
        print(
            f"no listener on {host}:{port}; delivered {sent} sample messages to {to} through a "
            "temporary SMTP listener of this command and processed them"
        )
    return 0


async def _demo_in_process(settings: Settings, *, count: int) -> int:
    from mail.smtp import start_smtp_server

    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    worker = build_worker(settings, sessions)
    server = await start_smtp_server(
        sessions=sessions,
        intake_addresses=settings.intake_addresses,
        hostname=settings.smtp_hostname,
        host="127.0.0.1",
        port=0,
        max_size=settings.max_message_size,
        clock=utcnow,
    )
    try:
        port = server.sockets[0].getsockname()[1]
        sent = await send_demo_mails(
            host="127.0.0.1", port=port, to=settings.intake_addresses[0], count=count
        )
        await worker.drain()
        return sent
    finally:
        server.close()
        await server.wait_closed()
        await engine.dispose()
