"""A bounded schemathesis run against the API's own OpenAPI schema: no input gets a 5xx.

The app runs in-process (ASGI) on both database backends, called with a real API token of an admin
(who sees every unit and may do everything, so each operation gets past the role check to the code
behind it) and of a viewer (whose writes are refused: as documented, too). Every answer must be as
the schema says: a documented status, its media type, its body (problem details for refusals). Most
generated requests name a case that exists, so replies, triage, merges and downloads are reached
too, not only their 404. The run is derandomized: the same examples every time. The inputs that
once got a 5xx are given to every parameter, one by one, in `test_odd_input.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)
from sqlalchemy.pool import NullPool

from inbox.core.db import create_engine, session_factory, unit_of_work
from inbox.runners.heartbeat import Heartbeats, Part
from inbox.staff.tokens import create_token
from inbox.web.app import create_app
from tests.conftest import CHEAP_PASSWORDS, SECRET_KEY
from tests.inbox.web.conftest import World

EXAMPLES = 12  # per operation, role and backend: some 10 seconds of CPU for each pair
# No 5xx, and every documented answer as documented (body, media type, headers). Not the checks
# that unknown query parameters must be refused: FastAPI ignores them, on purpose.
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
]


@dataclass(frozen=True)
class Target:
    headers: dict[str, str]
    references: tuple[str, ...]


@pytest.fixture(params=["admin", "viewer"])
async def target(world: World, request: pytest.FixtureRequest) -> Target:
    async with unit_of_work(world.db.sessions) as session:
        _row, token = await create_token(
            session, name="schemathesis", now=world.clock(), role=request.param, all_units=True
        )
    worker = Heartbeats(world.db.sessions, clock=world.clock, interval=15)
    worker.add(Part.WORKER)
    assert await worker.beat_once()  # a worker runs: the installation is healthy (/healthz 200)
    return Target(
        headers={"Authorization": f"Bearer {token}"},
        references=(world.barn, world.vuxen, world.loose),
    )


@pytest.fixture
async def app(world: World) -> AsyncIterator[FastAPI]:
    # schemathesis calls the app from an event loop of its own (in a thread): the app gets an
    # engine without a pool, so no connection made in one loop is used in another.
    engine = create_engine(world.db.url, poolclass=NullPool)
    yield create_app(
        sessions=session_factory(engine),
        clock=world.clock,
        secret_key=SECRET_KEY,
        passwords=CHEAP_PASSWORDS,
    )
    await engine.dispose()


def _schema() -> dict[str, Any]:
    """The OpenAPI document; building it touches no database."""
    app = create_app(
        sessions=session_factory(create_engine("sqlite+aiosqlite://")),
        clock=lambda: datetime.now(UTC),
        secret_key=SECRET_KEY,
    )
    return app.openapi()


schema = schemathesis.openapi.from_dict(_schema())


@schema.given(existing=st.integers(min_value=-1, max_value=2))
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_gets_a_server_error(
    case: schemathesis.Case,
    existing: int,
    target: Target,
    app: FastAPI,
) -> None:
    if existing >= 0 and "reference" in (case.path_parameters or {}):
        assert case.path_parameters is not None
        case.path_parameters["reference"] = target.references[existing]
    case.call_and_validate(headers=target.headers, checks=CHECKS, app=app)
