"""A call-back case from a check-in whose client would rather talk to someone else: the staff case
page shows the flag, and triage will not give the case to the handläggare who registered the
decision (issue 14)."""

from __future__ import annotations

from sqlalchemy import select

from inbox.cases.access import EVERYTHING
from inbox.checkins.answers import record_answer
from inbox.checkins.decisions import check_input, register_decision
from inbox.checkins.plan import CheckinPolicy
from inbox.core.db import unit_of_work
from inbox.core.models import Case
from tests.conftest import SECRET_KEY
from tests.inbox.web.conftest import DECISION, SignIn, World, form_post

POLICY = CheckinPolicy(secret_key=SECRET_KEY)


async def call_back_for_someone_else(world: World) -> Case:
    """Karin registers a decision; its client asks to be called, by someone else."""
    karin = await world.user_id("karin")
    async with unit_of_work(world.db.sessions) as session:
        _decision, checkin = await register_decision(
            session,
            data=check_input(DECISION, now=world.clock()),
            scope=EVERYTHING,
            policy=POLICY,
            registered_by=f"user:{karin}",
            now=world.clock(),
        )
        assert checkin.id is not None
        for question in ("wants_contact", "other_handler"):
            await record_answer(
                session,
                checkin_id=checkin.id,
                question=question,
                answer="yes",
                channel_address=DECISION["address"],
                now=world.clock(),
                policy=POLICY,
            )
    async with world.db.sessions() as session:
        [case] = (await session.execute(select(Case).where(Case.origin == "checkin"))).scalars()
    assert case.flag_callback and case.flag_other_handler and case.assignee_id is None
    return case


async def test_the_case_page_shows_the_flag_and_triage_keeps_the_case_from_the_handlaggare(
    world: World, as_user: SignIn
) -> None:
    case = await call_back_for_someone_else(world)
    alma = await as_user("alma")
    page = (await alma.get(f"/cases/{case.reference}")).text
    assert '<span class="flag">Vill prata med någon annan än handläggaren</span>' in page
    assert "Ge inte ärendet till den som handlade beslutet" in page
    assert "Tilldela inte ärendet till" in page  # the answers name her
    form = {
        "kind": "other",
        "unit": "barn-och-familj",
        "submitter_role": "unknown",
        "priority": "normal",
        "status": "open",
    }
    triage = f"/cases/{case.reference}/triage"
    refused = await form_post(alma, triage, form | {"assignee": "karin"})
    assert refused.status_code == 422 and "prata med någon annan än den handläggare" in refused.text
    assert (await world.case(case.reference)).assignee_id is None
    ok = await form_post(alma, triage, form | {"assignee": "alma"})
    assert ok.status_code == 303
    assert (await world.case(case.reference)).assignee_id == await world.user_id("alma")


async def test_a_case_without_the_flag_shows_nothing_of_it(world: World, as_user: SignIn) -> None:
    alma = await as_user("alma")
    page = (await alma.get(f"/cases/{world.barn}")).text
    assert "någon annan än handläggaren" not in page


async def test_a_call_back_case_names_who_answered_comes_flagged_and_with_high_priority(
    world: World, as_user: SignIn
) -> None:
    case = await call_back_for_someone_else(world)
    assert case.priority == "high"
    alma = await as_user("alma")
    page = (await alma.get(f"/cases/{case.reference}")).text
    assert f"&lt;{DECISION['address']}&gt;" in page and "okänd" not in page
    assert '<span class="flag">Återkoppling önskas</span>' in page
    listing = (await alma.get("/", params={"flag": "callback"})).text
    assert case.reference in listing and world.barn not in listing
    assert '<span class="flag callback">Återkoppling önskas</span>' in listing
