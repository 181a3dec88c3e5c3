"""CSRF and the browser's safety headers: no form is accepted without the session's token, and
the pages carry a CSP without inline script or style."""

from __future__ import annotations

import re

import httpx

from tests.inbox.web.conftest import SignIn, World, csrf_of


async def test_every_form_without_a_token_is_refused(world: World, as_user: SignIn) -> None:
    ada = await as_user("ada")
    await ada.get("/")
    ref = world.loose
    forms = {
        f"/cases/{ref}/reply": {"text": "Hej"},
        f"/cases/{ref}/note": {"text": "Anteckning"},
        f"/cases/{ref}/triage": {"kind": "praise"},
        f"/cases/{ref}/close": {"outcome": "answered"},
        f"/cases/{ref}/reopen": {},
        "/templates": {"name": "Mall", "body": "Hej {namn}"},
        "/templates/1/delete": {},
        "/signout": {},
    }
    for action, data in forms.items():
        assert (await ada.post(action, data=data)).status_code == 403, action
        forged = await ada.post(action, data={**data, "csrf_token": "forged"})
        assert forged.status_code == 403, action
    case = await world.case(ref)
    assert case.kind == "other" and case.status == "new"
    assert (await ada.get(f"/cases/{ref}")).status_code == 200  # still signed in


async def test_sign_in_form_needs_the_token_too(world: World) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app), base_url="http://test"
    ) as client:
        response = await client.post(
            "/signin", data={"username": "karin", "password": "rätt-lösenord-123"}
        )
        assert response.status_code == 403


async def test_htmx_requests_may_send_the_token_as_a_header(world: World, as_user: SignIn) -> None:
    karin = await as_user("karin")
    token = csrf_of((await karin.get("/")).text)
    response = await karin.post(
        f"/cases/{world.barn}/note", data={"text": "Via htmx"}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 303
    wrong = await karin.post(
        f"/cases/{world.barn}/note", data={"text": "x"}, headers={"X-CSRF-Token": "nope"}
    )
    assert wrong.status_code == 403


async def test_pages_carry_a_strict_csp_and_no_inline_script(world: World, as_user: SignIn) -> None:
    karin = await as_user("karin")
    for url in ("/", f"/cases/{world.barn}", "/signin"):
        response = await karin.get(url)
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), url
        assert not re.search(r"<style|\sstyle=", response.text), url
        assert not re.search(r"\son[a-z]+=", response.text), url
    js = await karin.get("/static/htmx.min.js")
    assert js.status_code == 200 and "htmx" in js.text
