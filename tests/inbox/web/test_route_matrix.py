"""The route matrix: every route of the app, page and API, called as every role, inside and outside
its units, against the declared table `MATRIX`. The table is the specification of who may do what;
a route missing from it (or an entry without a route) fails, and so does a route whose typed
principal dependency says something other than its entry.

Rules: a role that may not act gets 403 (before anything is looked up, so it tells nothing about
the object); an object in a unit outside the principal's scope is a 404, as if it did not exist;
acting in a unit outside the scope (registering into it) is refused; lists leave out what is out
of scope. Nobody signed in gets 401 from the API and the sign-in page from the staff pages.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from sqlalchemy import select

from inbox.cases.access import EVERYTHING, NEEDS, Need
from inbox.cases.consent import ConsentInput, record_consent
from inbox.cases.measures import MeasureInput, add_measure
from inbox.cases.merging import merge_cases
from inbox.cases.saved_filters import save_filter
from inbox.cases.templates import save_template
from inbox.cases.triage import update_case
from inbox.core.db import unit_of_work
from inbox.core.inbound import Automation
from inbox.core.models import (
    Attachment,
    Case,
    CaseMove,
    IntakeRecord,
    Message,
    StaffUser,
    Task,
)
from inbox.staff.tokens import create_token
from inbox.staff.users import add_user
from inbox.web.deps import need_of
from tests.conftest import CHEAP_PASSWORDS, SECRET_KEY
from tests.inbox.web.conftest import (
    SYSTEM,
    World,
    _case,
    build_world,
    csrf_of,
    decision_in,
    sign_in,
)

IN, OUT = "barn-och-familj", "vuxen"  # every object lives in IN; "out" principals have OUT only
ROLES = ("admin", "registrar", "caseworker", "viewer")
PASSWORD = "matrisens-lösenord"

# How a route relates to units: "object" (it names something in a unit: out of scope is 404),
# "unit" (it acts in a unit it is told: out of scope is refused), "list" (it lists what is in scope:
# out of scope it still answers, without what belongs to IN), "none" (no unit involved).
OBJECT, UNIT, LIST, NONE = "object", "unit", "list", "none"


@dataclass
class Objects:
    """What a route is called on: fresh where a call changes it, shared where it only reads."""

    case: str = ""
    message_id: int = 0
    attachment_id: int = 0
    intake_id: int = 0
    decision_id: int = 0
    template_id: int = 0
    other_case: str = ""
    serial: itertools.count[int] = field(default_factory=lambda: itertools.count(100))


@dataclass(frozen=True)
class Call:
    path: str
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None
    params: dict[str, str] | None = None


Prepare = Callable[[World, Objects], Awaitable[Call]]


@dataclass(frozen=True)
class Rule:
    need: Need | None  # None: public
    units: str = NONE
    prepare: Prepare | None = None
    marker: Callable[[Objects], str] | None = None  # in a "list": shown in scope, never outside


def static(path: str, *, params: dict[str, str] | None = None, **kwargs: Any) -> Prepare:
    async def prepare(world: World, objects: Objects) -> Call:
        filled = {k: v.format(o=objects) for k, v in (params or {}).items()}
        return Call(path=path.format(o=objects), params=filled or None, **kwargs)

    return prepare


def fresh(make: Callable[[World, Objects], Awaitable[Call]]) -> Prepare:
    return make


async def _fresh_case(world: World, objects: Objects) -> str:
    return await _case(world.db, world.clock, next(objects.serial), IN)


async def _fresh_split(world: World, objects: Objects) -> Call:
    target = await _fresh_case(world, objects)
    source = await _fresh_case(world, objects)
    async with unit_of_work(world.db.sessions) as session:
        cases = {
            c.reference: c
            for c in (
                await session.execute(select(Case).where(Case.reference.in_([target, source])))  # type: ignore[attr-defined]
            ).scalars()
        }
        moved = (
            (
                await session.execute(
                    select(Message).where(
                        Message.case_id == cases[source].id, Message.direction == "inbound"
                    )
                )
            )
            .scalars()
            .one()
        )
        await merge_cases(
            session, source=cases[source], target=cases[target], actor=SYSTEM, now=world.clock()
        )
    return Call(path=f"/{{api}}cases/{target}/messages/{moved.id}/split", form={}, json={})


async def _fresh_decision(world: World, objects: Objects) -> int:
    return await decision_in(world, _decision_body(objects))


def _decision_body(objects: Objects) -> dict[str, str]:
    n = next(objects.serial)
    return {
        "unit": IN,
        "channel": "email",
        "address": f"klient{n}@example.se",
        "language": "sv",
        "decided_on": "2026-03-02",
        "reference": f"BEV-{n}",
    }


def _registration(json_body: bool) -> Prepare:
    async def prepare(world: World, objects: Objects) -> Call:
        body = {
            "channel": "phone",
            "subject": "Samtal",
            "text": "Ringde om sitt ärende.",
            "kind": "question",
            "unit": IN,
            "submitter_role": "relative",
        }
        if json_body:
            return Call(path="/api/cases", json=body)
        return Call(path="/cases/new", form=body)

    return prepare


async def _flag(world: World, reference: str, flag: str) -> int:
    """Sets an escalation flag on a case, which opens its task; the task's id."""
    async with unit_of_work(world.db.sessions) as session:
        case = (await session.execute(select(Case).where(Case.reference == reference))).scalar_one()
        await update_case(
            session,
            oidc=False,
            case=case,
            changes={"flags": {flag: True}},
            actor=SYSTEM,
            now=world.clock(),
        )
        task = (
            await session.execute(select(Task).where(Task.case_id == case.id, Task.kind == flag))
        ).scalar_one()
    assert task.id is not None
    return task.id


def _with_task(path: str, **kwargs: Any) -> Prepare:
    """A fresh case in IN with an open task, for calls that mark it done."""

    async def prepare(world: World, objects: Objects) -> Call:
        task_id = await _flag(world, await _fresh_case(world, objects), "lex_sarah")
        return Call(path=path.format(task=task_id), **kwargs)

    return prepare


def _with_case(path: str, **kwargs: Any) -> Prepare:
    """A fresh case in IN, for calls that change it."""

    async def prepare(world: World, objects: Objects) -> Call:
        reference = await _fresh_case(world, objects)
        return Call(path=path.format(ref=reference), **kwargs)

    return prepare


def _machine_case(path: str, **kwargs: Any) -> Prepare:
    """A fresh case of machine mail in IN (a bounce about nothing of ours), for moving it."""

    async def prepare(world: World, objects: Objects) -> Call:
        reference = await _case(
            world.db, world.clock, next(objects.serial), IN, automation=Automation.BOUNCE
        )
        return Call(path=path.format(ref=reference), **kwargs)

    return prepare


MEASURE = {"type": "apology", "status": "planned", "dated_on": "2026-03-10", "text": "Ursäkt"}


async def _with_measure(world: World, objects: Objects) -> Call:
    """A fresh case in IN with a measure, for the call that changes the measure."""
    reference = await _fresh_case(world, objects)
    async with unit_of_work(world.db.sessions) as session:
        case = (await session.execute(select(Case).where(Case.reference == reference))).scalar_one()
        measure = await add_measure(
            session,
            case=case,
            data=MeasureInput(
                type="apology", text="", status="planned", dated_on=date(2026, 3, 10)
            ),
            scope=EVERYTHING,
            actor=SYSTEM,
            now=world.clock(),
        )
    return Call(path=f"/cases/{reference}/measures/{measure.id}", form=MEASURE | {"status": "done"})


async def _merge(world: World, objects: Objects) -> Call:
    source, target = await _fresh_case(world, objects), await _fresh_case(world, objects)
    return Call(path=f"/{{api}}cases/{source}/merge", json={"into": target}, form={"into": target})


async def _split(world: World, objects: Objects) -> Call:
    return await _fresh_split(world, objects)


async def _undo(world: World, objects: Objects) -> Call:
    """A fresh merge, to be undone from the target (its page or the API)."""
    source, target = await _fresh_case(world, objects), await _fresh_case(world, objects)
    async with unit_of_work(world.db.sessions) as session:
        cases = {
            c.reference: c
            for c in (
                await session.execute(select(Case).where(Case.reference.in_([target, source])))  # type: ignore[attr-defined]
            ).scalars()
        }
        await merge_cases(
            session, source=cases[source], target=cases[target], actor=SYSTEM, now=world.clock()
        )
        move = (
            await session.execute(select(CaseMove).where(CaseMove.case_id == cases[source].id))
        ).scalar_one()
    return Call(path=f"/{{api}}cases/{target}/moves/{move.id}/undo", form={}, json={})


async def _withdraw(world: World, objects: Objects) -> Call:
    return Call(path=f"/api/decisions/{await _fresh_decision(world, objects)}/withdraw", json={})


async def _new_decision(world: World, objects: Objects) -> Call:
    return Call(path="/api/decisions", json=_decision_body(objects))


async def _new_decision_page(world: World, objects: Objects) -> Call:
    return Call(path="/decisions/new", form=_decision_body(objects))


async def _new_template(world: World, objects: Objects) -> Call:
    n = next(objects.serial)
    return Call(path="/templates", form={"name": f"Mall {n}", "body": "Hej {namn}!"})


async def _delete_template(world: World, objects: Objects) -> Call:
    async with unit_of_work(world.db.sessions) as session:
        template = await save_template(
            session,
            template_id=None,
            name=f"Mall {next(objects.serial)}",
            body="Hej!",
            now=world.clock(),
        )
    return Call(path=f"/templates/{template.id}/delete", form={})


async def _bulk(world: World, objects: Objects) -> Call:
    """A fresh case in IN, ticked on the list and given another kind; out of scope it is skipped
    and reported (`test_bulk.py` checks that nothing changed)."""
    reference = await _fresh_case(world, objects)
    form = {"ref": reference, "action": "kind", "kind": "praise", "back": "/"}
    return Call(path="/cases/bulk", form=form)


async def _delete_filter(world: World, objects: Objects) -> Call:
    """Karin's saved filter: nobody else may delete it (they are told it does not exist)."""
    async with unit_of_work(world.db.sessions) as session:
        karin = await session.get(StaffUser, await world.user_id("karin"))
        assert karin is not None
        saved, _ = await save_filter(
            session,
            user=karin,
            name=f"Filter {next(objects.serial)}",
            raw={"status": "new"},
            now=world.clock(),
        )
    return Call(path=f"/filters/{saved.id}/delete", form={})


TRIAGE_FORM = {
    "kind": "complaint",
    "submitter_role": "relative",
    "priority": "high",
    "status": "open",
    "unit": IN,
}


def _case_ref(o: Objects) -> str:
    return o.case


CONSENT = {
    "given_by": "Brukaren",
    "given_to": "Dottern",
    "scope": "Hur ärendet handläggs",
    "given_on": "2026-03-02",
    "form": "written",
}
RIGHTS_REQUEST = {
    "kind": "rectification",
    "requested_by": "Brukaren",
    "requested_on": "2026-03-09",
    "request": "Fel adress i ärendet",
    "response": "Adressen är rättad.",
}
SUBJECT_ACCESS = {"kind": "email", "address": "person1@example.se", "requested_by": "Brukaren"}
DOCUMENT_REQUEST = {
    "requested_on": "2026-03-09",
    "documents": "Klagomålet",
    "outcome": "refused",
    "grounds": "26 kap. 1 § OSL",
    "decided_on": "2026-03-10",
}


async def _revoke(world: World, objects: Objects) -> Call:
    reference = await _fresh_case(world, objects)
    async with unit_of_work(world.db.sessions) as session:
        case = (await session.execute(select(Case).where(Case.reference == reference))).scalar_one()
        consent = await record_consent(
            session,
            case=case,
            data=ConsentInput(**{**CONSENT, "given_on": date(2026, 3, 2)}),  # type: ignore[arg-type]
            actor=SYSTEM,
            now=world.clock(),
        )
    return Call(
        path=f"/{{api}}cases/{reference}/consents/{consent.id}/revoke",
        json={"revoked_on": "2026-03-09"},
        form={"revoked_on": "2026-03-09"},
    )


async def _fresh_user(world: World, objects: Objects) -> int:
    """A caseworker of IN, for calls that change a user."""
    async with unit_of_work(world.db.sessions) as session:
        user = await add_user(
            session,
            username=f"ny-{next(objects.serial)}",
            role="caseworker",
            unit_codes=[IN],
            now=world.clock(),
        )
    assert user.id is not None
    return user.id


def _with_user(path: str, **kwargs: Any) -> Prepare:
    async def prepare(world: World, objects: Objects) -> Call:
        return Call(path=path.format(user=await _fresh_user(world, objects)), **kwargs)

    return prepare


async def _karin_page(world: World, objects: Objects) -> Call:
    return Call(path=f"/admin/users/{await world.user_id('karin')}")


async def _new_user(world: World, objects: Objects) -> Call:
    n = next(objects.serial)
    return Call(path="/admin/users", form={"username": f"anna-{n}", "role": "viewer", "unit": IN})


async def _new_unit(world: World, objects: Objects) -> Call:
    n = next(objects.serial)
    return Call(
        path="/admin/units", form={"code": f"enhet-{n}", "name": f"Enhet {n}", "response_days": "5"}
    )


async def _new_token(world: World, objects: Objects) -> Call:
    n = next(objects.serial)
    return Call(path="/admin/tokens", form={"name": f"system-{n}", "role": "viewer", "unit": IN})


async def _revoke_token(world: World, objects: Objects) -> Call:
    async with unit_of_work(world.db.sessions) as session:
        row, _ = await create_token(
            session, name=f"gammal-{next(objects.serial)}", unit_codes=[IN], now=world.clock()
        )
    return Call(path=f"/admin/tokens/{row.id}/revoke", form={})


LOG_REVIEW = {
    "from": "2026-01-01",
    "to": "2026-01-31",
    "reviewer": "Granskare",
    "findings": "Inget.",
}
UNIT_FORM = {"name": "Barn och familj", "response_days": "10", "delay": "", "active": "1"}


MATRIX: dict[tuple[str, str], Rule] = {
    # The JSON API
    ("GET", "/api/cases"): Rule(Need.READ, LIST, static("/api/cases"), _case_ref),
    ("GET", "/api/counts"): Rule(Need.READ, LIST, static("/api/counts")),
    ("GET", "/api/cases/{reference}"): Rule(Need.READ, OBJECT, static("/api/cases/{o.case}")),
    ("PATCH", "/api/cases/{reference}"): Rule(
        Need.WRITE, OBJECT, _with_case("/api/cases/{ref}", json={"priority": "high"})
    ),
    ("POST", "/api/cases/{reference}/replies"): Rule(
        Need.WRITE, OBJECT, static("/api/cases/{o.case}/replies", json={"text": "Tack!"})
    ),
    ("GET", "/api/cases/{reference}/messages/{message_id}/original"): Rule(
        Need.READ, OBJECT, static("/api/cases/{o.case}/messages/{o.message_id}/original")
    ),
    ("GET", "/api/cases/{reference}/attachments/{attachment_id}"): Rule(
        Need.READ, OBJECT, static("/api/cases/{o.case}/attachments/{o.attachment_id}")
    ),
    ("POST", "/api/cases"): Rule(Need.WRITE, UNIT, _registration(json_body=True)),
    ("POST", "/api/cases/{reference}/merge"): Rule(Need.WRITE, OBJECT, _merge),
    ("POST", "/api/cases/{reference}/to-inbox"): Rule(
        Need.WRITE, OBJECT, _machine_case("/api/cases/{ref}/to-inbox", json={})
    ),
    ("POST", "/api/cases/{reference}/moves/{move_id}/undo"): Rule(Need.WRITE, OBJECT, _undo),
    ("POST", "/api/cases/{reference}/messages/{message_id}/split"): Rule(
        Need.WRITE, OBJECT, _split
    ),
    ("PUT", "/api/cases/{reference}/secrecy"): Rule(
        Need.WRITE,
        OBJECT,
        _with_case("/api/cases/{ref}/secrecy", json={"marked": True, "reason": "26 kap. 1 § OSL"}),
    ),
    ("PUT", "/api/cases/{reference}/identity"): Rule(
        Need.WRITE,
        OBJECT,
        _with_case("/api/cases/{ref}/identity", json={"protected": True, "reason": "Orosanmälan"}),
    ),
    ("POST", "/api/cases/{reference}/consents"): Rule(
        Need.WRITE, OBJECT, _with_case("/api/cases/{ref}/consents", json=CONSENT)
    ),
    ("POST", "/api/cases/{reference}/consents/{consent_id}/revoke"): Rule(
        Need.WRITE, OBJECT, _revoke
    ),
    ("POST", "/api/cases/{reference}/document-requests"): Rule(
        Need.WRITE, OBJECT, _with_case("/api/cases/{ref}/document-requests", json=DOCUMENT_REQUEST)
    ),
    ("GET", "/api/intake"): Rule(
        Need.REGISTRAR, LIST, static("/api/intake", params={"status": "done"}), _case_ref
    ),
    ("GET", "/api/intake/{record_id}/raw"): Rule(
        Need.REGISTRAR, OBJECT, static("/api/intake/{o.intake_id}/raw")
    ),
    ("GET", "/api/audit"): Rule(
        Need.ADMIN, LIST, static("/api/audit", params={"case": "{o.case}"}), lambda o: "case.read"
    ),
    ("POST", "/api/decisions"): Rule(Need.WRITE, UNIT, _new_decision),
    ("GET", "/api/decisions/{decision_id}"): Rule(
        Need.READ, OBJECT, static("/api/decisions/{o.decision_id}")
    ),
    ("POST", "/api/decisions/{decision_id}/withdraw"): Rule(Need.WRITE, OBJECT, _withdraw),
    ("GET", "/api/checkins/stats"): Rule(
        Need.READ, LIST, static("/api/checkins/stats"), lambda o: IN
    ),
    ("GET", "/api/tasks"): Rule(Need.READ, LIST, static("/api/tasks"), _case_ref),
    ("POST", "/api/tasks/{task_id}/done"): Rule(
        Need.WRITE, OBJECT, _with_task("/api/tasks/{task}/done", json={})
    ),
    ("GET", "/api/tasks/stats"): Rule(Need.READ, LIST, static("/api/tasks/stats")),
    # The staff pages
    ("GET", "/"): Rule(Need.READ, LIST, static("/"), _case_ref),
    ("GET", "/cases/{reference}"): Rule(Need.READ, OBJECT, static("/cases/{o.case}")),
    ("GET", "/cases/{reference}/messages/{message_id}/original"): Rule(
        Need.READ, OBJECT, static("/cases/{o.case}/messages/{o.message_id}/original")
    ),
    ("GET", "/cases/{reference}/attachments/{attachment_id}"): Rule(
        Need.READ, OBJECT, static("/cases/{o.case}/attachments/{o.attachment_id}")
    ),
    ("GET", "/cases/{reference}/attachments/{attachment_id}/view"): Rule(
        Need.READ, OBJECT, static("/cases/{o.case}/attachments/{o.attachment_id}/view")
    ),
    ("POST", "/cases/{reference}/reply"): Rule(
        Need.WRITE, OBJECT, static("/cases/{o.case}/reply", form={"text": "Tack!"})
    ),
    ("POST", "/cases/{reference}/reply/template"): Rule(
        Need.WRITE, OBJECT, static("/cases/{o.case}/reply/template", form={"text": "Hej"})
    ),
    ("POST", "/cases/{reference}/note"): Rule(
        Need.WRITE, OBJECT, static("/cases/{o.case}/note", form={"text": "Ringt upp."})
    ),
    ("POST", "/cases/{reference}/triage"): Rule(
        Need.WRITE, OBJECT, _with_case("/cases/{ref}/triage", form=TRIAGE_FORM)
    ),
    ("POST", "/cases/{reference}/close"): Rule(
        Need.WRITE, OBJECT, _with_case("/cases/{ref}/close", form={"outcome": "answered"})
    ),
    ("POST", "/cases/{reference}/reopen"): Rule(
        Need.WRITE, OBJECT, _with_case("/cases/{ref}/reopen", form={})
    ),
    ("POST", "/cases/{reference}/merge"): Rule(Need.WRITE, OBJECT, _merge),
    ("POST", "/cases/{reference}/to-inbox"): Rule(
        Need.WRITE, OBJECT, _machine_case("/cases/{ref}/to-inbox", form={"back": "list"})
    ),
    ("POST", "/cases/{reference}/messages/{message_id}/split"): Rule(Need.WRITE, OBJECT, _split),
    ("POST", "/cases/{reference}/moves/{move_id}/undo"): Rule(Need.WRITE, OBJECT, _undo),
    ("POST", "/cases/{reference}/secrecy"): Rule(
        Need.WRITE, OBJECT, _with_case("/cases/{ref}/secrecy", form={"reason": "26 kap. 1 § OSL"})
    ),
    ("POST", "/cases/{reference}/identity"): Rule(
        Need.WRITE, OBJECT, _with_case("/cases/{ref}/identity", form={"reason": "Orosanmälan"})
    ),
    ("POST", "/cases/{reference}/consents"): Rule(
        Need.WRITE, OBJECT, _with_case("/cases/{ref}/consents", form=CONSENT)
    ),
    ("POST", "/cases/{reference}/consents/{consent_id}/revoke"): Rule(Need.WRITE, OBJECT, _revoke),
    ("POST", "/cases/{reference}/document-requests"): Rule(
        Need.WRITE, OBJECT, _with_case("/cases/{ref}/document-requests", form=DOCUMENT_REQUEST)
    ),
    ("POST", "/cases/{reference}/hold"): Rule(
        Need.REGISTRAR, OBJECT, _with_case("/cases/{ref}/hold", form={"reason": "Tvist"})
    ),
    ("POST", "/cases/{reference}/rights-requests"): Rule(
        Need.WRITE, OBJECT, _with_case("/cases/{ref}/rights-requests", form=RIGHTS_REQUEST)
    ),
    ("GET", "/admin/subject-access"): Rule(Need.ADMIN, NONE, static("/admin/subject-access")),
    # A unit-limited admin gets the extract of their units only (the extract says so).
    ("POST", "/admin/subject-access"): Rule(
        Need.ADMIN, LIST, static("/admin/subject-access", form=SUBJECT_ACCESS)
    ),
    ("POST", "/cases/{reference}/topics"): Rule(
        Need.WRITE, OBJECT, _with_case("/cases/{ref}/topics", form={})
    ),
    ("POST", "/cases/{reference}/measures"): Rule(
        Need.WRITE, OBJECT, _with_case("/cases/{ref}/measures", form=MEASURE)
    ),
    ("POST", "/cases/{reference}/measures/{measure_id}"): Rule(Need.WRITE, OBJECT, _with_measure),
    ("POST", "/cases/{reference}/lex-sarah"): Rule(
        Need.WRITE, OBJECT, _with_case("/cases/{ref}/lex-sarah", form={"assessed": "yes"})
    ),
    ("POST", "/cases/{reference}/example"): Rule(
        Need.WRITE, OBJECT, _with_case("/cases/{ref}/example", form={})
    ),
    ("POST", "/cases/bulk"): Rule(Need.WRITE, LIST, _bulk),
    ("POST", "/filters"): Rule(
        Need.READ, NONE, static("/filters", form={"name": "Mina nya", "status": "new"})
    ),
    ("POST", "/filters/{filter_id}/delete"): Rule(Need.READ, NONE, _delete_filter),
    ("GET", "/rapporter"): Rule(Need.READ, LIST, static("/rapporter")),
    ("GET", "/rapporter/fil"): Rule(
        Need.READ, LIST, static("/rapporter/fil", params={"format": "csv"})
    ),
    ("GET", "/rapporter/rapport.css"): Rule(Need.READ, NONE, static("/rapporter/rapport.css")),
    ("GET", "/cases/new"): Rule(Need.WRITE, NONE, static("/cases/new")),
    ("POST", "/cases/new"): Rule(Need.WRITE, UNIT, _registration(json_body=False)),
    ("GET", "/health"): Rule(Need.REGISTRAR, LIST, static("/health")),
    ("GET", "/intake/{record_id}/raw"): Rule(
        Need.REGISTRAR, OBJECT, static("/intake/{o.intake_id}/raw")
    ),
    ("GET", "/audit"): Rule(
        Need.ADMIN, LIST, static("/audit", params={"case": "{o.case}"}), lambda o: "Läste ärendet"
    ),
    ("GET", "/audit.csv"): Rule(
        Need.ADMIN,
        LIST,
        static("/audit.csv", params={"case": "{o.case}"}),
        lambda o: "Läste ärendet",
    ),
    ("POST", "/audit/reviews"): Rule(Need.ADMIN, NONE, static("/audit/reviews", form=LOG_REVIEW)),
    ("GET", "/admin/users"): Rule(Need.ADMIN, LIST, static("/admin/users"), lambda o: "Karin"),
    ("POST", "/admin/users"): Rule(Need.ADMIN, UNIT, _new_user),
    ("GET", "/admin/users/{user_id}"): Rule(Need.ADMIN, OBJECT, _karin_page),
    ("POST", "/admin/users/{user_id}"): Rule(
        Need.ADMIN,
        OBJECT,
        _with_user(
            "/admin/users/{user}", form={"display_name": "Ny", "role": "viewer", "unit": IN}
        ),
    ),
    ("POST", "/admin/users/{user_id}/active"): Rule(
        Need.ADMIN, OBJECT, _with_user("/admin/users/{user}/active", form={})
    ),
    ("POST", "/admin/users/{user_id}/password"): Rule(
        Need.ADMIN, OBJECT, _with_user("/admin/users/{user}/password", form={})
    ),
    ("GET", "/admin/units"): Rule(
        Need.ADMIN, LIST, static("/admin/units"), lambda o: "Barn och familj"
    ),
    ("POST", "/admin/units"): Rule(Need.ADMIN, NONE, _new_unit),
    ("GET", "/admin/units/{code}"): Rule(Need.ADMIN, OBJECT, static(f"/admin/units/{IN}")),
    ("POST", "/admin/units/{code}"): Rule(
        Need.ADMIN, OBJECT, static(f"/admin/units/{IN}", form=UNIT_FORM)
    ),
    ("GET", "/admin/tokens"): Rule(
        Need.ADMIN, LIST, static("/admin/tokens"), lambda o: "caseworker-inne"
    ),
    ("POST", "/admin/tokens"): Rule(Need.ADMIN, UNIT, _new_token),
    ("POST", "/admin/tokens/{token_id}/revoke"): Rule(Need.ADMIN, OBJECT, _revoke_token),
    ("GET", "/templates"): Rule(Need.ADMIN, NONE, static("/templates")),
    ("POST", "/templates"): Rule(Need.ADMIN, NONE, _new_template),
    ("POST", "/templates/{template_id}/delete"): Rule(Need.ADMIN, NONE, _delete_template),
    ("GET", "/decisions/new"): Rule(Need.WRITE, NONE, static("/decisions/new")),
    ("POST", "/decisions/new"): Rule(Need.WRITE, UNIT, _new_decision_page),
    ("GET", "/checkins"): Rule(Need.READ, LIST, static("/checkins")),
    ("GET", "/tasks"): Rule(Need.READ, LIST, static("/tasks"), _case_ref),
    ("POST", "/tasks/{task_id}/done"): Rule(
        Need.WRITE, OBJECT, _with_task("/tasks/{task}/done", form={"next": "/tasks"})
    ),
    # The signed-in user's own settings, and who else has a case open (notify)
    ("GET", "/installningar"): Rule(Need.READ, NONE, static("/installningar")),
    ("POST", "/installningar"): Rule(
        Need.READ,
        NONE,
        static("/installningar", form={"email": "jag@example.se", "notify": "assigned"}),
    ),
    ("POST", "/cases/{reference}/presence"): Rule(
        Need.READ, OBJECT, static("/cases/{o.case}/presence", form={})
    ),
    # Public: sign-in, the citizen's check-in pages, health, the webhook and the API's own docs
    ("GET", "/signin"): Rule(None),
    ("POST", "/signin"): Rule(None),
    ("POST", "/signout"): Rule(None),
    ("GET", "/auth/oidc/login"): Rule(None),
    ("GET", "/auth/oidc/callback"): Rule(None),
    ("GET", "/checkin/{token}"): Rule(None),
    ("POST", "/checkin/{token}"): Rule(None),
    ("GET", "/checkin/stopp/{token}"): Rule(None),
    ("POST", "/checkin/stopp/{token}"): Rule(None),
    ("GET", "/static/public.css"): Rule(None),
    ("GET", "/integritet"): Rule(None),
    ("GET", "/resultat"): Rule(None),
    ("GET", "/resultat.json"): Rule(None),
    ("GET", "/resultat.csv"): Rule(None),
    ("GET", "/synpunkt"): Rule(None),
    ("POST", "/synpunkt"): Rule(None),
    ("GET", "/synpunkt/folj"): Rule(None),
    ("POST", "/synpunkt/folj"): Rule(None),
    ("POST", "/synpunkt/folj/meddelande"): Rule(None),
    ("GET", "/tillganglighet"): Rule(None),
    ("GET", "/sprak"): Rule(None),
    ("POST", "/telegram/webhook"): Rule(None),
    ("GET", "/healthz"): Rule(None),
    # Off by default (404); a bearer token or networks of its own when on (test_metrics.py).
    ("GET", "/metrics"): Rule(None),
    ("GET", "/livez"): Rule(None),
    ("GET", "/readyz"): Rule(None),
    ("GET", "/openapi.json"): Rule(None),
    ("GET", "/docs"): Rule(None),
}
# `/` answers everyone (the sign-in form for a stranger, the list for staff), so it reads the
# signed-in user itself instead of through a typed dependency.
UNTYPED = {("GET", "/")}


def app_routes(app: FastAPI) -> Iterator[tuple[str, str, Dependant | None]]:
    """Every (method, path) the app answers, with its dependency tree where FastAPI has one."""
    for route in app.routes:
        if hasattr(route, "effective_candidates"):
            candidates = route.effective_candidates()
        elif hasattr(route, "methods") and route.methods:
            candidates = [route]
        else:
            continue  # the /static mount: files, no principal
        for candidate in candidates:
            for method in sorted(candidate.methods - {"HEAD"}):
                yield method, candidate.path, getattr(candidate, "dependant", None)


def needs_in(dependant: Dependant | None) -> set[Need]:
    found: set[Need] = set()
    if dependant is None:
        return found
    need = need_of(dependant.call)
    if need is not None:
        found.add(need)
    for sub in dependant.dependencies:
        found |= needs_in(sub)
    return found


def test_every_route_is_in_the_matrix_and_checks_the_role_it_declares() -> None:
    from inbox.core.db import create_engine, session_factory
    from inbox.web.app import create_app

    engine = create_engine("sqlite+aiosqlite:///:memory:")
    app = create_app(
        sessions=session_factory(engine),
        secret_key=SECRET_KEY,
        clock=lambda: None,  # type: ignore[arg-type,return-value]
        telegram_webhook=lambda body, secret: None,  # type: ignore[arg-type,return-value]
    )
    routes = {(method, path): dependant for method, path, dependant in app_routes(app)}
    assert set(routes) - set(MATRIX) == set(), "routes without an entry in the matrix"
    assert set(MATRIX) - set(routes) == set(), "matrix entries without a route"
    for key, dependant in routes.items():
        rule = MATRIX[key]
        expected = set() if rule.need is None or key in UNTYPED else {rule.need}
        assert needs_in(dependant) == expected, key


@dataclass
class Principal:
    role: str
    in_scope: bool
    api: httpx.AsyncClient
    page: httpx.AsyncClient


async def _principals(world: World) -> list[Principal]:
    principals = []
    for role, in_scope in itertools.product(ROLES, (True, False)):
        unit = IN if in_scope else OUT
        name = f"{role}-{'inne' if in_scope else 'ute'}"
        async with unit_of_work(world.db.sessions) as session:
            await add_user(
                session,
                username=name,
                role=role,
                unit_codes=[unit],
                password=PASSWORD,
                passwords=CHEAP_PASSWORDS,
                now=world.clock(),
            )
            _row, token = await create_token(
                session, name=name, role=role, unit_codes=[unit], now=world.clock()
            )
        transport = httpx.ASGITransport(app=world.app, client=("10.0.0.9", 5000))
        api = httpx.AsyncClient(
            transport=transport,
            base_url="http://test",
            headers={"Authorization": f"Bearer {token}"},
        )
        page = httpx.AsyncClient(transport=transport, base_url="http://test")
        signed = await sign_in(page, name, PASSWORD)
        assert signed.status_code == 303, signed.text
        principals.append(Principal(role, in_scope, api, page))
    return principals


async def _objects(world: World) -> Objects:
    objects = Objects(case=world.barn, other_case=world.vuxen)
    async with world.db.sessions() as session:
        case = (
            await session.execute(select(Case).where(Case.reference == world.barn))
        ).scalar_one()
        message = (
            (
                await session.execute(
                    select(Message).where(
                        Message.case_id == case.id, Message.direction == "inbound"
                    )
                )
            )
            .scalars()
            .one()
        )
        attachment = (
            (await session.execute(select(Attachment).where(Attachment.message_id == message.id)))
            .scalars()
            .one()
        )
        record = (
            await session.execute(select(IntakeRecord).where(IntakeRecord.case_id == case.id))
        ).scalar_one()
        # The original must be there to be served.
        record.raw = b"From: person1@example.se\r\n\r\nHej"
        message.intake_id = record.id
        await session.commit()
    assert message.id and attachment.id and record.id
    objects.message_id, objects.attachment_id, objects.intake_id = (
        message.id,
        attachment.id,
        record.id,
    )
    objects.decision_id = await _fresh_decision(world, objects)
    await _flag(world, objects.case, "child_at_risk")  # a task to find on the lists of IN
    return objects


async def _send(client: httpx.AsyncClient, method: str, call: Call, *, api: bool) -> httpx.Response:
    path = call.path.replace("{api}", "api/" if api else "")
    if api:
        body = call.json if method in ("POST", "PATCH", "PUT") else None
        return await client.request(method, path, json=body, params=call.params)
    if method == "GET":
        return await client.get(path, params=call.params)
    csrf = csrf_of((await client.get("/")).text)
    return await client.post(path, data={**(call.form or {}), "csrf_token": csrf})


def _expected(rule: Rule, principal: Principal, *, api: bool) -> str:
    assert rule.need is not None
    if principal.role not in NEEDS[rule.need]:
        return "forbidden"
    if principal.in_scope or rule.units == NONE:
        return "allowed"
    return {OBJECT: "hidden", UNIT: "refused", LIST: "filtered"}[rule.units]


def _judge(outcome: str, response: httpx.Response, marker: str | None, *, api: bool) -> bool:
    status = response.status_code
    if outcome == "forbidden":
        return status == 403
    if outcome == "hidden":
        return status == 404
    if outcome == "refused":
        return status == 403 if api else status == 422
    if outcome == "filtered":
        return status < 400 and (marker is None or marker not in response.text)
    return status < 400 and (marker is None or marker in response.text)


async def test_every_route_as_every_role_in_and_out_of_scope(db: Any, clock: Any) -> None:
    world = await build_world(db, clock)
    principals = await _principals(world)
    objects = await _objects(world)
    nobody_api = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app), base_url="http://test"
    )
    nobody_page = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app), base_url="http://test"
    )
    # Something to find in the audit trail of IN.
    await principals[0].api.get(f"/api/cases/{objects.case}")
    wrong: list[str] = []
    try:
        # Lists first: the fresh cases other routes make would push IN's case off the first page.
        for (method, path), rule in sorted(MATRIX.items(), key=lambda kv: kv[1].units != LIST):
            if rule.need is None:
                continue
            assert rule.prepare is not None, path
            api = path.startswith("/api")
            for principal in principals:
                call = await rule.prepare(world, objects)
                client = principal.api if api else principal.page
                response = await _send(client, method, call, api=api)
                outcome = _expected(rule, principal, api=api)
                marker = rule.marker(objects) if rule.marker else None
                if not _judge(outcome, response, marker, api=api):
                    wrong.append(
                        f"{method} {path} as {principal.role} "
                        f"{'in' if principal.in_scope else 'out of'} scope: expected {outcome}, "
                        f"got {response.status_code} {response.text[:120]!r}"
                    )
            call = await rule.prepare(world, objects)
            if api:
                response = await _send(nobody_api, method, call, api=True)
                if response.status_code != 401:
                    wrong.append(f"{method} {path} without a token: {response.status_code}")
            else:
                response = await nobody_page.request(method, call.path.replace("{api}", ""))
                signin = response.status_code == 303 and "/?next=" in response.headers.get(
                    "location", ""
                )
                shown = response.status_code == 200 and 'name="password"' in response.text
                # A POST without a session has no CSRF token either: refused before anything.
                if not (signin or shown or (method == "POST" and response.status_code == 403)):
                    wrong.append(f"{method} {path} signed out: {response.status_code}")
    finally:
        for principal in principals:
            await principal.api.aclose()
            await principal.page.aclose()
        await nobody_api.aclose()
        await nobody_page.aclose()
    assert not wrong, "\n".join(wrong)
    async with world.db.sessions() as session:
        users = (await session.execute(select(StaffUser))).scalars().all()
    assert len(users) >= 8
