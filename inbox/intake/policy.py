"""What intake needs to know about the installation: built from the settings by the composition
root, with the claims it hands in, and passed to every step of intake."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.inbound import InboundMessage
from inbox.core.models import Contact

# A step that may take an inbound message from a known contact before it joins a case (a short
# reply to a check-in mail is its answer, say): why it took the message, or None when it did not.
# The composition root hands these to intake, so that intake knows no feature that answers mail.
Claim = Callable[[AsyncSession, InboundMessage, Contact, datetime], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class IntakePolicy:
    """What intake needs to know about this installation (built from Settings by the CLI)."""

    case_prefix: str = "SP"
    mail_domain: str = "synpunkt.localhost"
    own_addresses: frozenset[str] = frozenset()
    acks_per_sender_per_day: int = 3
    response_days: int = 10
    organisation: str = "Socialtjänsten"  # the nämnd, which signs and to which appeals go
    emergency_text: str = ""  # after "Vid akut fara, ring 112." (the social on-call service)
    public_url: str = "http://127.0.0.1:8000"  # where people reach us: the privacy notice's link
    claims: tuple[Claim, ...] = ()
