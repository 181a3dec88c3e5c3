"""Requests for documents: a begäran om utlämnande av allmän handling made about a case, the
menprövning's outcome, and for a refusal the written decision with how to appeal it.

Anyone may ask for a case's documents (TF 2 kap.), without saying who they are or why (TF 2 kap.
18 §), and the authority examines each piece of information under the secrecy that may apply
(OSL 26 kap. 1 §: secrecy is presumed in social services). The answer is to release, to release
with the secret parts masked, or to refuse. A masked release refuses part of what was asked for,
so it gets the same written decision with an appeal as a refusal (OSL 6 kap. 7–8 §§, FL 32–33 and
44 §§): the applicant appeals to the kammarrätt through the authority within three weeks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.core.audit import Actor, audit
from inbox.core.models import Case, DisclosureOutcome, DocumentRequest
from inbox.core.time import STOCKHOLM

OUTCOMES = {
    DisclosureOutcome.RELEASED: "Lämnas ut",
    DisclosureOutcome.MASKED: "Lämnas ut med maskering",
    DisclosureOutcome.REFUSED: "Avslag",
}
MAX_NAME = 200
MAX_DOCUMENTS = 2000
MAX_GROUNDS = 500
MAX_REASONING = 4000


class DisclosureError(ValueError):
    """The request cannot be recorded as given; the message says what to fix (Swedish)."""


@dataclass(frozen=True, slots=True)
class RequestInput:
    requested_by: str | None  # None or empty: anonymous
    requested_on: date
    documents: str  # what was asked for
    outcome: str  # DisclosureOutcome
    decided_on: date
    grounds: str | None = None  # the secrecy provision, for a refusal or masking
    reasoning: str | None = None  # why, briefly (no secret details: the decision goes out)


def _text(value: str | None, *, limit: int, field: str, required: bool = False) -> str | None:
    text = (value or "").replace("\r\n", "\n").strip()
    if not text:
        if required:
            raise DisclosureError(f"Ange {field}.")
        return None
    if len(text) > limit:
        raise DisclosureError(f"Fältet {field} får vara högst {limit} tecken.")
    return text


def _check(data: RequestInput, *, now: datetime) -> RequestInput:
    if data.outcome not in set(DisclosureOutcome):
        raise DisclosureError("Välj utfallet av menprövningen.")
    today = now.astimezone(STOCKHOLM).date()
    if data.requested_on > today or data.decided_on > today:
        raise DisclosureError("Datumen kan inte ligga i framtiden.")
    if data.decided_on < data.requested_on:
        raise DisclosureError("Beslutet kan inte vara fattat före begäran.")
    partly_refused = data.outcome != DisclosureOutcome.RELEASED
    grounds = _text(
        data.grounds,
        limit=MAX_GROUNDS,
        field="vilken sekretessbestämmelse som tillämpas (till exempel 26 kap. 1 § OSL)",
        required=partly_refused,
    )
    return RequestInput(
        requested_by=_text(data.requested_by, limit=MAX_NAME, field="vem som begärde"),
        requested_on=data.requested_on,
        documents=_text(
            data.documents, limit=MAX_DOCUMENTS, field="vad begäran gäller", required=True
        )
        or "",
        outcome=data.outcome,
        decided_on=data.decided_on,
        grounds=grounds if partly_refused else None,
        reasoning=_text(data.reasoning, limit=MAX_REASONING, field="skälen"),
    )


def decision_text(
    *,
    organisation: str,
    reference: str,
    data: RequestInput,
    decided_by: str,
) -> str:
    """The written decision for a refusal or a masked release, with how to appeal it."""
    refused = data.outcome == DisclosureOutcome.REFUSED
    applicant = data.requested_by or "Sökanden har inte uppgett sitt namn, vilket man inte behöver."
    if refused:
        ruling = f"{organisation} avslår begäran om att ta del av handlingarna."
    else:
        ruling = (
            f"{organisation} lämnar ut handlingarna, men med de uppgifter maskerade som omfattas "
            "av sekretess. I den delen avslås begäran."
        )
    reasons = (
        f"Handlingarna innehåller uppgifter som {organisation} vid en prövning har bedömt omfattas "
        f"av sekretess enligt {data.grounds}. Sådana uppgifter får inte lämnas ut."
    )
    if data.reasoning:
        reasons += f"\n\n{data.reasoning}"
    return f"""BESLUT

{organisation}
Beslutsdatum: {data.decided_on.isoformat()}
Ärende: {reference}

Begäran om att ta del av allmän handling

Sökande: {applicant}
Begäran kom in: {data.requested_on.isoformat()}
Begäran gäller: {data.documents}

Beslut
{ruling}

Skäl för beslutet
{reasons}

Tillämpliga bestämmelser: 2 kap. tryckfrihetsförordningen, {data.grounds} och 6 kap. 7 § \
offentlighets- och sekretesslagen (2009:400).

Hur du överklagar
Du kan överklaga beslutet till kammarrätten. Skicka eller lämna överklagandet till {organisation}, \
inte direkt till kammarrätten. Överklagandet ska ha kommit in till oss inom tre veckor från den dag \
du fick del av beslutet. Skriv vilket beslut du överklagar (ange ärende {reference} och \
beslutsdatumet), hur du vill att beslutet ska ändras och varför. Om vi inte ändrar beslutet som du \
vill, skickar vi överklagandet vidare till kammarrätten.

Beslutet har fattats av {decided_by}.
"""


async def record_request(
    session: AsyncSession,
    *,
    case: Case,
    data: RequestInput,
    organisation: str,
    decided_by: str,
    actor: Actor,
    now: datetime,
) -> DocumentRequest:
    """Records a request for documents of `case` (in the caller's scope already) and its outcome;
    a refusal or masked release gets its decision text. Audited, with the decision text."""
    data = _check(data, now=now)
    assert case.id is not None
    text = None
    if data.outcome != DisclosureOutcome.RELEASED:
        text = decision_text(
            organisation=organisation, reference=case.reference, data=data, decided_by=decided_by
        )
    request = DocumentRequest(
        case_id=case.id,
        requested_by=data.requested_by,
        requested_on=data.requested_on,
        documents=data.documents,
        outcome=data.outcome,
        grounds=data.grounds,
        reasoning=data.reasoning,
        decision_text=text,
        decided_on=data.decided_on,
        decided_by=actor.user_id,
        recorded_at=now,
    )
    session.add(request)
    await session.flush()
    audit(
        session,
        actor=actor,
        action="document_request.decided",
        case=case,
        now=now,
        request_id=request.id,
        requested_by=data.requested_by,
        requested_on=data.requested_on.isoformat(),
        documents=data.documents,
        outcome=data.outcome,
        grounds=data.grounds,
        decided_on=data.decided_on.isoformat(),
        decided_by=decided_by,
        decision_text=text,
    )
    case.updated_at = now
    return request


async def requests_of(session: AsyncSession, *, case: Case) -> Sequence[DocumentRequest]:
    """The case's requests for documents, oldest first."""
    rows = await session.execute(
        select(DocumentRequest)
        .where(col(DocumentRequest.case_id) == case.id)
        .order_by(col(DocumentRequest.id))
    )
    return rows.scalars().all()
