"""The automatic acknowledgement a sender gets when their message opens a case.

Swedish always, with English as well when the message was written in English. It gives the case
reference, the promised response time, and what a public authority must say: the message is a
public record, feedback is not an appeal (and how to appeal), and no sensitive details by email.
It deliberately repeats nothing the sender wrote (not their name, not their subject): the From
address of a mail can be forged, and an acknowledgement must not carry a stranger's words.

Queued, it is an outbound message on the case (staff see it and its delivery) and an outbox row
whose Message-ID is fixed now, so that a reply to it threads onto the case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.utils import make_msgid
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.db import insert_ignoring_conflicts
from inbox.core.inbound import Channel, InboundMessage
from inbox.core.models import Delivery, Direction, Message, OutboxItem
from inbox.core.outbox import outbox_row
from inbox.intake.policy import IntakePolicy

ACK_KIND = "case.ack"
# Rows go into the tables (Core), not through the models (see `inbox.intake.steps` for why).
_MESSAGES: Table = Message.__table__  # type: ignore[attr-defined]
_OUTBOX: Table = OutboxItem.__table__  # type: ignore[attr-defined]

_SV = """Hej!

Tack för att du hörde av dig till {organisation}. Vi har tagit emot ditt meddelande och registrerat \
det med ärendenummer {reference}. Svara gärna på det här mejlet om du vill lägga till något, så \
hamnar det i samma ärende.

Vi strävar efter att svara inom {days} arbetsdagar, det vill säga senast {due}.

Bra att veta
- Ditt meddelande är en allmän handling från och med att det kom in till oss. Uppgifter om \
enskildas personliga förhållanden skyddas av sekretess.
- Skicka inte personnummer, uppgifter om hälsa eller detaljer om ett ärende med e-post. E-post är \
inte ett säkert sätt att lämna känsliga uppgifter. Skriv hellre att du vill bli kontaktad, så ringer \
vi upp dig.
- En synpunkt är inte ett överklagande. Vill du överklaga ett beslut ska du göra det skriftligt \
inom tre veckor från den dag du fick ta del av beslutet. Hur du gör står i beslutet, och din \
handläggare hjälper dig gärna. Mer information: {appeal_url}

Det här är ett automatiskt svar.

Med vänliga hälsningar
{organisation}
"""

_EN = """Hello,

Thank you for contacting {organisation}. We have received your message and registered it under \
case number {reference}. If you want to add something, just reply to this email and it will be \
added to the same case.

We aim to reply within {days} working days, that is by {due}.

Good to know
- Your message is a public record (allmän handling) from the moment it reached us. Information \
about individuals' personal circumstances is protected by secrecy.
- Please do not send personal identity numbers, health information or details of a case by email. \
Email is not a safe way to share sensitive information. Write that you would like us to contact \
you instead, and we will call you.
- Feedback is not an appeal. If you want to appeal a decision, you must do so in writing within \
three weeks of the day you were informed of the decision. The decision explains how, and your \
caseworker is glad to help. More information: {appeal_url}

This is an automatic reply.

Kind regards
{organisation}
"""

# A chat is not a mailbox: shorter, and it speaks of the chat, not of email.
_CHAT_SV = """Tack! Vi har tagit emot ditt meddelande och registrerat det med ärendenummer \
{reference}. Skriv gärna mer här i chatten, så hamnar det i samma ärende.

Vi strävar efter att svara inom {days} arbetsdagar, det vill säga senast {due}.

- Ditt meddelande är en allmän handling. Uppgifter om enskildas personliga förhållanden skyddas \
av sekretess.
- Skicka inte personnummer, uppgifter om hälsa eller detaljer om ett ärende här i chatten.
- En synpunkt är inte ett överklagande. Ett beslut överklagar du skriftligt inom tre veckor från \
den dag du fick ta del av det. Mer information: {appeal_url}

Det här är ett automatiskt svar från {organisation}.
"""

_CHAT_EN = """Thank you! We have received your message and registered it under case number \
{reference}. You can write more here in the chat and it will be added to the same case.

We aim to reply within {days} working days, that is by {due}.

- Your message is a public record (allmän handling). Information about individuals' personal \
circumstances is protected by secrecy.
- Please do not send personal identity numbers, health information or details of a case in this \
chat.
- Feedback is not an appeal. You appeal a decision in writing within three weeks of the day you \
were informed of it. More information: {appeal_url}

This is an automatic reply from {organisation}.
"""

_SUBJECT = {"sv": "Vi har tagit emot ditt meddelande", "en": "We have received your message"}


@dataclass(frozen=True, slots=True)
class AckText:
    subject: str
    text: str
    languages: tuple[str, ...]


def ack_languages(message_language: str | None) -> tuple[str, ...]:
    return ("sv", "en") if message_language == "en" else ("sv",)


def render_ack(
    *,
    reference: str,
    organisation: str,
    response_days: int,
    due: date,
    appeal_url: str,
    message_language: str | None,
    channel: str = Channel.EMAIL,
) -> AckText:
    languages = ack_languages(message_language)
    values = {
        "reference": reference,
        "organisation": organisation,
        "days": response_days,
        "due": due.isoformat(),
        "appeal_url": appeal_url,
    }
    bodies = (
        {"sv": _CHAT_SV, "en": _CHAT_EN} if channel == Channel.TELEGRAM else {"sv": _SV, "en": _EN}
    )
    text = "\n---\n\n".join(bodies[lang].format(**values) for lang in languages)
    subject = f"[{reference}] " + " / ".join(_SUBJECT[lang] for lang in languages)
    return AckText(subject=subject, text=text, languages=languages)


@dataclass(frozen=True, slots=True)
class Ack:
    """An acknowledgement to queue: the message it answers, the case it opened, and to whom."""

    msg: InboundMessage
    case_id: int
    reference: str
    due_on: date
    address: str


async def enqueue_acks(
    session: AsyncSession, acks: Sequence[Ack], *, policy: IntakePolicy, now: datetime
) -> None:
    """Queues the acknowledgements, one per case: two multi-row statements for any number."""
    if not acks:
        return
    texts = [
        render_ack(
            reference=ack.reference,
            organisation=policy.organisation,
            response_days=policy.response_days,
            due=ack.due_on,
            appeal_url=policy.appeal_url,
            message_language=ack.msg.language,
            channel=ack.msg.channel,
        )
        for ack in acks
    ]
    rfc_ids = [
        make_msgid(idstring=ack.reference.lower(), domain=policy.mail_domain) for ack in acks
    ]
    stored = await session.execute(
        insert(_MESSAGES).returning(_MESSAGES.c.id, _MESSAGES.c.case_id),
        [
            {
                "case_id": ack.case_id,
                "direction": Direction.OUTBOUND,
                "channel": ack.msg.channel,
                "kind": ACK_KIND,
                "rfc_message_id": rfc_id.strip("<>"),
                "in_reply_to": ack.msg.message_id,
                "recipient": ack.address,
                "subject": text.subject,
                "text": text.text,
                "display_text": text.text,
                "language": text.languages[0],
                "delivery": Delivery.QUEUED,
                "defects": [],
                "created_at": now,
            }
            for ack, text, rfc_id in zip(acks, texts, rfc_ids, strict=True)
        ],
    )
    message_ids = {case_id: id_ for id_, case_id in stored.all()}
    await session.execute(
        insert_ignoring_conflicts(session, _OUTBOX),
        [
            outbox_row(
                kind=ACK_KIND,
                channel=ack.msg.channel,
                recipient=ack.address,
                payload=ack_payload(ack.msg, text, rfc_id=rfc_id, address=ack.address),
                idempotency_key=f"{ACK_KIND}:{ack.reference}",
                case_id=ack.case_id,
                message_id=message_ids[ack.case_id],
                now=now,
            )
            for ack, text, rfc_id in zip(acks, texts, rfc_ids, strict=True)
        ],
    )


def ack_payload(msg: InboundMessage, ack: AckText, *, rfc_id: str, address: str) -> dict[str, Any]:
    """The outbox payload of the acknowledgement of `msg` to the contact at `address`."""
    payload: dict[str, Any] = {"text": ack.text, "languages": list(ack.languages)}
    if msg.channel == Channel.TELEGRAM:
        payload["chat_id"] = msg.chat_id or address
    else:
        references = [*msg.references, msg.message_id] if msg.message_id else list(msg.references)
        payload |= {
            "subject": ack.subject,
            "message_id": rfc_id,
            "in_reply_to": f"<{msg.message_id}>" if msg.message_id else None,
            "references": [f"<{mid}>" for mid in references][-20:],
            "auto_submitted": "auto-replied",
            "chat_id": msg.chat_id,
        }
    return payload
