"""The case's registry forms: secrecy marking, protected identity, consent for relatives, and
requests for documents — each a POST that redirects back to the case, over `inbox.cases`.

Who may do what is the core's to decide (`inbox.cases.registry`): anyone who may act on the case
marks or protects, only a registrar or admin takes a marking or a protection away. Bad input
re-renders the case with the error.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from inbox.cases.consent import ConsentError, ConsentInput, record_consent, revoke_consent
from inbox.cases.disclosure import DisclosureError, RequestInput, record_request
from inbox.cases.registry import IDENTITY, SECRECY, Marking, RegistryError, set_marking
from inbox.web.auth.csrf import verify_csrf
from inbox.web.inputs import Id
from inbox.web.pages.actions import CaseForm, CasePost
from inbox.web.state import Policy

router = APIRouter(dependencies=[Depends(verify_csrf)], include_in_schema=False)


class _BadDate(ValueError):
    pass


def _date(value: object, what: str) -> date:
    try:
        return date.fromisoformat(str(value or "").strip())
    except ValueError:
        raise _BadDate(f"Ange {what} som ett datum (ÅÅÅÅ-MM-DD).") from None


async def _marking(post: CaseForm, marking: Marking, done: tuple[str, str]) -> Response:
    """A marking form: set with a reason, or taken away (`action=remove`); `done` is what to say
    after setting it and after taking it away."""
    on = post.form.get("action") != "remove"
    try:
        changed = await set_marking(
            post.session,
            marking,
            case=post.case,
            on=on,
            reason=post.text("reason"),
            scope=post.staff.scope,
            actor=post.staff.actor,
            now=post.now,
        )
    except RegistryError as exc:
        return await post.refused(str(exc))
    if not changed:
        return post.done("Inget ändrades.")
    return post.done(done[0] if on else done[1])


@router.post("/cases/{reference}/secrecy")
async def secrecy(post: CasePost) -> Response:
    return await _marking(
        post,
        SECRECY,
        done=("Ärendet är sekretessmarkerat.", "Sekretessmarkeringen är borttagen."),
    )


@router.post("/cases/{reference}/identity")
async def identity(post: CasePost) -> Response:
    return await _marking(
        post,
        IDENTITY,
        done=(
            "Avsändarens kontaktuppgifter visas nu bara för registratorer och administratörer.",
            "Skyddet av avsändarens identitet är borttaget.",
        ),
    )


@router.post("/cases/{reference}/consents")
async def consent_add(post: CasePost) -> Response:
    try:
        await record_consent(
            post.session,
            case=post.case,
            data=ConsentInput(
                given_by=post.text("given_by"),
                given_to=post.text("given_to"),
                scope=post.text("scope"),
                given_on=_date(post.form.get("given_on"), "när samtycket lämnades"),
                form=post.text("form"),
            ),
            actor=post.staff.actor,
            now=post.now,
        )
    except (ConsentError, _BadDate) as exc:
        return await post.refused(str(exc))
    return post.done("Samtycket är registrerat.")


@router.post("/cases/{reference}/consents/{consent_id}/revoke")
async def consent_revoke(consent_id: Id, post: CasePost) -> Response:
    try:
        await revoke_consent(
            post.session,
            case=post.case,
            consent_id=consent_id,
            revoked_on=_date(post.form.get("revoked_on"), "när samtycket återkallades"),
            actor=post.staff.actor,
            now=post.now,
        )
    except (ConsentError, _BadDate) as exc:
        return await post.refused(str(exc))
    return post.done("Samtycket är återkallat.")


@router.post("/cases/{reference}/document-requests")
async def document_request(post: CasePost, policy: Policy) -> Response:
    try:
        await record_request(
            post.session,
            case=post.case,
            data=RequestInput(
                requested_by=post.text("requested_by"),
                requested_on=_date(post.form.get("requested_on"), "när begäran kom in"),
                documents=post.text("documents"),
                outcome=post.text("outcome"),
                decided_on=_date(post.form.get("decided_on"), "beslutsdatum"),
                grounds=post.text("grounds"),
                reasoning=post.text("reasoning"),
            ),
            organisation=policy.organisation,
            decided_by=post.staff.user.display_name or post.staff.user.username,
            actor=post.staff.actor,
            now=post.now,
        )
    except (DisclosureError, _BadDate) as exc:
        return await post.refused(str(exc))
    return post.done("Begäran och beslutet är registrerade.")
