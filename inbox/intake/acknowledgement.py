"""The automatic acknowledgement a sender gets when their message opens a case.

Swedish always, first, then the sender's language when that is another offered one
(`person_language`, by the rule of `inbox.core.i18n.sender_language`); the texts are the gettext
catalogues' (msgid: the Swedish text). By email a letter, in a chat a shorter message. It gives the case reference and what a public authority must say:
the message is a public record and may be read by anyone who asks, after a secrecy test; no
sensitive details by email or chat; how to ask to be contacted; in an emergency call 112 (and,
when configured, the social on-call service). Then one of two things:
- a message that may be an appeal (`appeals`) is told so: it counts as received on the day it
  came in, and goes to the decision-maker, who first tries whether it came in time;
- any other message is told when we aim to answer, that feedback is not an appeal, how to appeal
  (to the nämnd that signs the letter, within three weeks), and that a message meant as an
  appeal counts from the day it came in.
A case forwarded by IVO says that IVO forwarded it. Dates are written out ("16 december 2026").
It deliberately repeats nothing the sender wrote (not their name, not their subject): the From
address of a mail can be forged, and an acknowledgement must not carry a stranger's words.

Queued, it is an outbound message on the case (staff see it and its delivery) and an outbox row
whose Message-ID is fixed now, so that a reply to it threads onto the case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import make_msgid
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core import i18n
from inbox.core.db import insert_ignoring_conflicts
from inbox.core.i18n import N_
from inbox.core.i18n import written_date as written_date
from inbox.core.inbound import Channel, InboundMessage
from inbox.core.models import Delivery, Direction, Message, OutboxItem
from inbox.core.outbox import outbox_row
from inbox.core.privacy import privacy_url
from inbox.core.time import STOCKHOLM
from inbox.intake.policy import IntakePolicy

ACK_KIND = "case.ack"
# Rows go into the tables (Core), not through the models (see `inbox.intake.steps` for why).
_MESSAGES: Table = Message.__table__  # type: ignore[attr-defined]
_OUTBOX: Table = OutboxItem.__table__  # type: ignore[attr-defined]

# The parts of a letter (email) and of a chat message, in Swedish: the msgids of the catalogues,
# translated where rendered. Placeholders: {reference}, {organisation}, {days}, {due}, {received}
# (dates written out), {emergency} and {privacy}.
_PARTS: dict[str, dict[str, str]] = {
    "mail": {
        "greeting": N_("Hej!"),
        "opening": N_(
            "Tack för att du hörde av dig till {organisation}. Vi har tagit emot ditt "
            "meddelande och registrerat det med ärendenummer {reference}. Svara gärna på det "
            "här mejlet om du vill lägga till något, så hamnar det i samma ärende."
        ),
        "opening_appeal": N_(
            "Tack för ditt meddelande till {organisation}. Vi har registrerat det med "
            "ärendenummer {reference}. Svara gärna på det här mejlet om du vill lägga till "
            "något, så hamnar det i samma ärende."
        ),
        "opening_ivo": N_(
            "Inspektionen för vård och omsorg (IVO) har skickat ditt klagomål vidare till "
            "{organisation}. Vi har registrerat det med ärendenummer {reference}. Svara gärna "
            "på det här mejlet om du vill lägga till något, så hamnar det i samma ärende."
        ),
        "appeal": N_(
            "Ditt meddelande kan vara ett överklagande\n"
            "Det du skriver kan betyda att du vill att ett beslut ändras. Därför behandlar vi "
            "ditt meddelande som ett överklagande. Det räknas som inkommet till {organisation} "
            "den {received}.\n\n"
            "Vi lämnar ditt meddelande till den som fattade beslutet. Där prövas först om "
            "överklagandet kom in i tid, det vill säga inom tre veckor från den dag du fick ta "
            "del av beslutet. Det kallas rättidsprövning. Kom det in i tid skickas det vidare "
            "till förvaltningsrätten, om inte beslutet ändras så som du vill. Behöver vi veta "
            "mer, till exempel vilket beslut det gäller, hör vi av oss till dig.\n\n"
            "Menade du inte att överklaga ett beslut behöver du inte göra något. Då behandlar "
            "vi ditt meddelande som en synpunkt."
        ),
        "response": N_(
            "Vi strävar efter att svara inom {days} arbetsdagar, det vill säga senast den {due}."
        ),
        "heading": N_("Bra att veta"),
        "public": N_(
            "- Ditt meddelande är en allmän handling från och med att det kom in till oss. Alla "
            "har rätt att begära att få läsa allmänna handlingar. Uppgifter om enskildas "
            "personliga förhållanden kan omfattas av sekretess, och vi prövar det alltid innan "
            "vi lämnar ut något."
        ),
        "sensitive": N_(
            "- Skicka inte personnummer, uppgifter om hälsa eller detaljer om ett ärende med "
            "e-post. E-post är inte ett säkert sätt att lämna känsliga uppgifter. Vill du att vi "
            "kontaktar dig, svara på det här mejlet och skriv hur och när vi kan nå dig, till "
            "exempel på telefon."
        ),
        "privacy": N_("- Så behandlar vi dina personuppgifter: {privacy}"),
        "not_appeal": N_(
            "- En synpunkt är inte ett överklagande. Vill du överklaga ett beslut, skicka ett "
            "skriftligt överklagande till {organisation} inom tre veckor från den dag du fick "
            "ta del av beslutet. Din handläggare hjälper dig gärna. Menade du att ditt "
            "meddelande skulle vara ett överklagande? Svara då på det här mejlet och skriv det. "
            "Det räknas som inkommet den {received}."
        ),
        "automatic": N_("Det här är ett automatiskt svar."),
        "signature": N_("Med vänliga hälsningar\n{organisation}"),
    },
    # A chat is not a mailbox: shorter, and it speaks of the chat, not of email.
    "chat": {
        "opening": N_(
            "Tack! Vi har tagit emot ditt meddelande och registrerat det med ärendenummer "
            "{reference}. Skriv gärna mer här i chatten, så hamnar det i samma ärende."
        ),
        "opening_ivo": N_(
            "Inspektionen för vård och omsorg (IVO) har skickat ditt klagomål vidare till "
            "{organisation}. Vi har registrerat det med ärendenummer {reference}."
        ),
        "appeal": N_(
            "Ditt meddelande kan vara ett överklagande. Det du skriver kan betyda att du vill "
            "att ett beslut ändras. Därför behandlar vi det som ett överklagande, som kom in "
            "till {organisation} den {received}. Vi lämnar det till den som fattade beslutet. "
            "Där prövas först om det kom in i tid (rättidsprövning). Menade du inte att "
            "överklaga behöver du inte göra något. Då behandlar vi meddelandet som en synpunkt."
        ),
        "response": N_(
            "Vi strävar efter att svara inom {days} arbetsdagar, det vill säga senast den {due}."
        ),
        "public": N_(
            "- Ditt meddelande är en allmän handling, och alla har rätt att begära att få läsa "
            "allmänna handlingar. Uppgifter om enskildas personliga förhållanden kan omfattas "
            "av sekretess. Vi prövar det innan vi lämnar ut något."
        ),
        "sensitive": N_(
            "- Skicka inte personnummer, uppgifter om hälsa eller detaljer om ett ärende här i "
            "chatten. Vill du att vi kontaktar dig, skriv hur vi kan nå dig, till exempel på "
            "telefon."
        ),
        "privacy": N_("- Så behandlar vi dina personuppgifter: {privacy}"),
        "not_appeal": N_(
            "- En synpunkt är inte ett överklagande. Vill du överklaga ett beslut, skicka ett "
            "skriftligt överklagande till {organisation} inom tre veckor från den dag du fick "
            "ta del av beslutet. Din handläggare hjälper dig gärna. Menade du att ditt "
            "meddelande skulle vara ett överklagande? Skriv det då här i chatten. Det räknas "
            "som inkommet den {received}."
        ),
        "automatic": N_("Det här är ett automatiskt svar från {organisation}."),
    },
}
_EMERGENCY = N_("Vid akut fara, ring 112.")
_SUBJECT = N_("Vi har tagit emot ditt meddelande")


def our_paragraphs() -> list[str]:
    """Every paragraph an acknowledgement may have, in every offered language, with its
    placeholders (for `appeals`, which must not take our own words, quoted in a reply, for the
    sender's)."""
    return list(
        dict.fromkeys(
            i18n.gettext(one.code, text)
            for one in i18n.offered()
            for parts in _PARTS.values()
            for text in parts.values()
        )
    )


def counts_as_received(msg: InboundMessage, stored_at: datetime) -> datetime:
    """When a message reached the authority: when it was stored, or when Telegram's server took
    it if that was earlier (that date is the server's, not the sender's; a mail's Date header is
    the sender's own claim and is not used). Telegram keeps an update for 24 hours: a date older
    than two days is not believed."""
    sent = msg.sent_at if msg.channel == Channel.TELEGRAM else None
    if sent is not None and stored_at - timedelta(days=2) <= sent < stored_at:
        return sent
    return stored_at


def emergency_line(lang: str, emergency_text: str = "") -> str:
    """The emergency line: call 112, and the social on-call service when one is configured."""
    extra = " ".join(emergency_text.split())
    return f"{i18n.gettext(lang, _EMERGENCY)} {extra}".strip()


def _body(lang: str, medium: str, *, appeal: bool, via_ivo: bool) -> list[str]:
    """The paragraphs of one language's acknowledgement, in order, still with placeholders."""
    parts = {key: i18n.gettext(lang, text) for key, text in _PARTS[medium].items()}
    opening = "opening_ivo" if via_ivo else ("opening_appeal" if appeal else "opening")
    paragraphs = [parts["greeting"]] if "greeting" in parts else []
    paragraphs += [parts.get(opening, parts["opening"]), "{emergency}"]
    paragraphs += [parts["appeal"]] if appeal else [parts["response"]]
    notes = [parts["public"], parts["sensitive"]] + ([] if appeal else [parts["not_appeal"]])
    notes.append(parts["privacy"])
    paragraphs.append("\n".join(([parts["heading"]] if "heading" in parts else []) + notes))
    paragraphs.append(parts["automatic"])
    if "signature" in parts:
        paragraphs.append(parts["signature"])
    return paragraphs


@dataclass(frozen=True, slots=True)
class AckText:
    subject: str
    text: str
    languages: tuple[str, ...]


def ack_languages(language: str | None) -> tuple[str, ...]:
    """Swedish always, first; then the person's language (a code of `inbox.core.i18n`) when it is
    an offered one other than Swedish."""
    found = i18n.offered_for(language)
    if found is None or found.code == i18n.DEFAULT:
        return (i18n.DEFAULT,)
    return (i18n.DEFAULT, found.code)


def person_language(msg: InboundMessage) -> str:
    """The language of the person who sent `msg` (`inbox.core.i18n.sender_language`): the web
    form's language, the chat's (the bot's choice or Telegram's `language_code`), or the language
    detected in their mail."""
    if msg.channel == Channel.WEB:
        chosen = i18n.sender_language(form=msg.extra.get("form_language") or msg.language)
    elif msg.channel == Channel.TELEGRAM:
        chosen = i18n.sender_language(telegram=msg.language)
    else:
        chosen = i18n.sender_language(detected=msg.language)
    return chosen.code


def render_ack(
    *,
    reference: str,
    organisation: str,
    response_days: int,
    due: date,
    received: date,
    message_language: str | None,
    channel: str = Channel.EMAIL,
    appeal: bool = False,
    via_ivo: bool = False,
    emergency_text: str = "",
    public_url: str = "http://127.0.0.1:8000",
) -> AckText:
    """The acknowledgement's subject and text, in Swedish and in `message_language` (the person's
    language, see `person_language`). `received` is the day the message counts as received
    (Stockholm); `appeal` for a message that may be an appeal; `via_ivo` for a case IVO
    forwarded. Each language links to the privacy notice under `public_url`."""
    languages = ack_languages(message_language)
    medium = "chat" if channel == Channel.TELEGRAM else "mail"
    texts = []
    for lang in languages:
        values = {
            "reference": reference,
            "organisation": organisation,
            "days": response_days,
            "due": i18n.written_date(due, lang),
            "received": i18n.written_date(received, lang),
            "emergency": emergency_line(lang, emergency_text),
            "privacy": privacy_url(public_url, language=lang),
        }
        paragraphs = _body(lang, medium, appeal=appeal, via_ivo=via_ivo)
        texts.append("\n\n".join(p.format(**values) for p in paragraphs) + "\n")
    text = "\n---\n\n".join(texts)
    subject = f"[{reference}] " + " / ".join(i18n.gettext(lang, _SUBJECT) for lang in languages)
    return AckText(subject=subject, text=text, languages=languages)


@dataclass(frozen=True, slots=True)
class Ack:
    """An acknowledgement to queue: the message it answers, the case it opened, and to whom;
    whether the message may be an appeal, whether IVO forwarded it, and when it arrived."""

    msg: InboundMessage
    case_id: int
    reference: str
    due_on: date
    address: str
    appeal: bool = False
    via_ivo: bool = False
    received_at: datetime | None = None  # None: now
    channel: str | None = None  # the contact's, when not the message's (the web form's e-mail)


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
            received=counts_as_received(ack.msg, min(ack.received_at or now, now))
            .astimezone(STOCKHOLM)
            .date(),
            message_language=person_language(ack.msg),
            channel=ack.channel or ack.msg.channel,
            appeal=ack.appeal,
            via_ivo=ack.via_ivo,
            emergency_text=policy.emergency_text,
            public_url=policy.public_url,
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
                "channel": ack.channel or ack.msg.channel,
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
                channel=ack.channel or ack.msg.channel,
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
