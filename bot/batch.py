"""What one `getUpdates` answer (or one webhook update) writes: one ledger read up front, one
ledger transaction after its handlers ran, and each update's conversation state read once.

The ledger rows the handlers produce (feedback pending with its downloaded files, commands and
buttons done, unreadable updates failed) are collected here and committed together, before the
offset that confirms them is sent; a row whose update then fails is dropped again, so the update
comes again whole. The "new case" state a stored message used up is cleared in that same
transaction: the marker and the state that set it are stored, or neither is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import StateType, StorageKey
from aiogram.fsm.storage.memory import DisabledEventIsolation
from aiogram.types import TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage import SQLStorage
from inbox.core.db import read_sessions, unit_of_work
from inbox.core.inbound import Channel
from inbox.core.models import IntakeStatus
from inbox.intake import ledger

CHANNEL = Channel.TELEGRAM


@dataclass(frozen=True, slots=True)
class _Row:
    raw: bytes
    status: IntakeStatus
    error: str | None


class LedgerBatch:
    """The ledger's view of one batch of updates, and the rows it will add to it."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], storage: SQLStorage) -> None:
        self._sessions = sessions
        self._storage = storage
        self._seen: set[str] = set()
        self._rows: dict[str, _Row] = {}  # by external id, in the order the handlers added them
        self._resets: dict[StorageKey, str] = {}  # state to clear → the update that used it up

    async def load(self, external_ids: Sequence[str]) -> None:
        """Reads which of the batch's updates the ledger already holds (one query)."""
        async with read_sessions(self._sessions)() as session:
            self._seen |= await ledger.known(
                session, channel=CHANNEL, external_ids=sorted(set(external_ids))
            )

    def take(self, external_id: str) -> bool:
        """True the first time an update comes up; False when the ledger has it or the batch had it
        before (a repeat within one answer)."""
        if external_id in self._seen:
            return False
        self._seen.add(external_id)
        return True

    def add(
        self,
        external_id: str,
        raw: bytes,
        *,
        status: IntakeStatus = IntakeStatus.PENDING,
        error: str | None = None,
    ) -> None:
        """A row to commit with the batch (it replaces one the same update added before)."""
        self._rows[external_id] = _Row(raw, status, error)

    def drop(self, external_id: str) -> None:
        """Forgets what a failed update added: nothing of it is stored, it comes again whole."""
        self._rows.pop(external_id, None)
        for key in [k for k, owner in self._resets.items() if owner == external_id]:
            del self._resets[key]

    async def claim(self, external_id: str, raw: bytes, *, now: datetime) -> bool:
        """Commits the update's done row now, on its own, for a handler that answers the person:
        once it has answered, a repeat (the batch's commit failed, the handler raised) must be
        skipped rather than answered twice. False when another process stored it first."""
        self._rows.pop(external_id, None)
        async with unit_of_work(self._sessions) as session:
            row = await ledger.record(
                session,
                channel=CHANNEL,
                external_id=external_id,
                raw=raw,
                now=now,
                status=IntakeStatus.DONE,
            )
        return row is not None

    def reset_after_commit(self, key: StorageKey, external_id: str) -> None:
        self._resets[key] = external_id

    def resetting(self, key: StorageKey) -> bool:
        """Whether the key's state was used up by an update of this batch (and reads as cleared)."""
        return key in self._resets

    def state_written(self, key: StorageKey) -> None:
        """A handler set the state after an update used it up: its write is the newer one."""
        self._resets.pop(key, None)

    async def commit(self, *, now: datetime) -> int:
        """Adds the collected rows and clears the used-up states in one transaction; returns how
        many new rows wait for the worker. Raises when it fails: then nothing may be confirmed."""
        if not self._rows and not self._resets:
            return 0
        rows = [(key, row.raw, row.status, row.error) for key, row in self._rows.items()]
        async with unit_of_work(self._sessions) as session:
            new = await ledger.record_each(session, channel=CHANNEL, messages=rows, now=now)
            for key, external_id in self._resets.items():
                # Another process that stored the update first also cleared the state.
                if external_id in new:
                    await self._storage.reset_state(session, key)
        self._rows.clear()
        self._resets.clear()
        return sum(1 for key, _, status, _ in rows if key in new and status == IntakeStatus.PENDING)


class BatchState(FSMContext):
    """A chat's conversation state for one update: state and data read once, together, and
    written through at once; a state an earlier update of the batch used up reads as cleared."""

    def __init__(self, storage: SQLStorage, key: StorageKey, batch: LedgerBatch) -> None:
        super().__init__(storage=storage, key=key)
        self._sql = storage
        self._batch = batch
        self._loaded: tuple[str | None, dict[str, Any]] | None = None

    async def _load(self) -> tuple[str | None, dict[str, Any]]:
        if self._loaded is None:
            state, data = await self._sql.read(self.key)
            self._loaded = (None if self._batch.resetting(self.key) else state, data)
        return self._loaded

    async def get_state(self) -> str | None:
        return (await self._load())[0]

    async def get_data(self) -> dict[str, Any]:
        return dict((await self._load())[1])

    async def set_state(self, state: StateType = None) -> None:
        await super().set_state(state)
        self._batch.state_written(self.key)
        if self._loaded is not None:
            value = state.state if isinstance(state, State) else state
            self._loaded = (value, self._loaded[1])

    async def set_data(self, data: Mapping[str, Any]) -> None:
        await super().set_data(data)
        if self._loaded is not None:
            self._loaded = (self._loaded[0], dict(data))

    async def update_data(
        self, data: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        merged = {**(await self.get_data()), **(data or {}), **kwargs}
        await self.set_data(merged)
        return merged

    async def use_up(self, external_id: str) -> None:
        """The update stores what the state asked for: the state is cleared with its row, in the
        batch's transaction and only then. If that commit fails the state stays, and the update,
        which comes again, still opens its new case; later updates of the batch read it as
        cleared meanwhile, so only the first message after "Ny synpunkt" opens one."""
        self._batch.reset_after_commit(self.key, external_id)
        if self._loaded is not None:
            self._loaded = (None, self._loaded[1])


class BatchStates(FSMContextMiddleware):
    """aiogram's FSM middleware, with a `BatchState` per update (the batch comes in the data)."""

    def __init__(self, storage: SQLStorage) -> None:
        super().__init__(storage=storage, events_isolation=DisabledEventIsolation())
        self._sql = storage

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        data["fsm_storage"] = self.storage
        context = self.resolve_event_context(cast(Bot, data["bot"]), data)
        if context is not None:
            state = BatchState(self._sql, context.key, cast(LedgerBatch, data["batch"]))
            data.update({"state": state, "raw_state": await state.get_state()})
        return await handler(event, data)
