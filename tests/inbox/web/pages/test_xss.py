"""HTML and script in what citizens send is shown as text, never run: subject, body, file name and
sender name, in the list and on the case page."""

from __future__ import annotations

from markupsafe import escape

from inbox.cases.triage import update_case
from inbox.core.audit import Actor
from inbox.core.db import unit_of_work
from inbox.core.inbound import InboundAttachment
from inbox.core.models import Case
from tests.factories import mail, take
from tests.inbox.web.conftest import SignIn, World

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<svg/onload=alert(1)>",
    'javascript:alert(1)//<a href="javascript:alert(1)">x</a>',
    '{{ 7*7 }}<iframe src="https://evil.example"></iframe>',
    "</textarea><script>alert(1)</script>",
]


async def test_payloads_are_shown_as_text_and_never_run(world: World, as_user: SignIn) -> None:
    karin = await as_user("karin")
    for n, payload in enumerate(PAYLOADS, start=70):
        receipt = await take(
            world.db,
            mail(
                n,
                sender=f"x{n}@example.se",
                subject=f"Ämne {payload}",
                text=f"Text {payload}",
                html=f"<p>Html {payload}</p>",
                sender_name=f"Namn {payload}",
                attachments=[
                    InboundAttachment(
                        filename=f"{payload}.html", content_type="text/html", data=payload.encode()
                    )
                ],
            ),
            world.clock,
        )
        async with unit_of_work(world.db.sessions) as session:
            case = await session.get(Case, receipt.case_id)
            assert case is not None
            await update_case(
                session,
                oidc=False,
                case=case,
                changes={"unit": "barn-och-familj"},
                actor=Actor("test"),
                now=world.clock(),
            )
        listing = (await karin.get("/")).text
        page = (await karin.get(f"/cases/{receipt.reference}")).text
        for html in (listing, page):
            for dangerous in ("<script>", "<img", "<svg", "<iframe", 'href="javascript'):
                assert dangerous not in html, (payload, dangerous)
        # The list names a case by its ärendemening; the sender's words are in the preview.
        assert str(escape(f"Text {payload}")) in listing
        for shown in (f"Ämne {payload}", f"Text {payload}", f"Namn {payload}"):
            assert str(escape(shown)) in page, shown
        attachment = await _attachment(world, receipt.message_id)
        download = await karin.get(f"/cases/{receipt.reference}/attachments/{attachment}")
        assert download.headers["content-disposition"].startswith("attachment;")
        assert download.headers["content-type"] == "application/octet-stream"
        assert "<" not in download.headers["content-disposition"]
        assert download.headers["content-security-policy"] == "default-src 'none'; sandbox"


async def _attachment(world: World, message_id: int | None) -> int:
    from sqlalchemy import select

    from inbox.core.models import Attachment

    async with world.db.sessions() as session:
        found = (
            await session.execute(select(Attachment.id).where(Attachment.message_id == message_id))
        ).scalar_one()
        return int(found)
