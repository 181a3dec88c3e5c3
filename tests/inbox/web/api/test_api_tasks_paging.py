"""The open tasks through the API are paged like every list: a cursor of the order's key."""

from __future__ import annotations

from tests.inbox.web.conftest import ApiFor, World


async def test_tasks_are_paged_by_cursor_in_due_order_and_new_tasks_shift_nothing(
    world: World, api_for: ApiFor
) -> None:
    api = await api_for("admin", [])
    for reference in (world.barn, world.vuxen, world.loose):
        world.clock.advance(days=1)
        flagged = await api.patch(f"/api/cases/{reference}", json={"flags": {"lex_sarah": True}})
        assert flagged.status_code == 200
    everything = (await api.get("/api/tasks")).json()
    assert everything["next_cursor"] is None
    expected = [task["id"] for task in everything["items"]]
    assert len(expected) == 3
    assert [t["due_on"] for t in everything["items"]] == sorted(
        t["due_on"] for t in everything["items"]
    )
    seen: list[int] = []
    params: dict[str, str | int] = {"limit": 1}
    while True:
        page = (await api.get("/api/tasks", params=params)).json()
        seen += [task["id"] for task in page["items"]]
        if len(seen) == 1:  # a task due later than every other arrives meanwhile
            world.clock.advance(days=1)
            await api.patch(f"/api/cases/{world.barn}", json={"flags": {"child_at_risk": True}})
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen[:3] == expected and len(seen) == len(set(seen)) == 4
    refused = await api.get("/api/tasks", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert refused.status_code == 400 and refused.json()["detail"] == "invalid cursor"
