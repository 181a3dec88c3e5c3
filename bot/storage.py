"""Conversation state (aiogram FSM) in the database, so a restart or a second process continues it.

One row per bot, chat, user, thread and destiny in `telegram_fsm`; `set_state` and `set_data` are
upserts, each in a short transaction of its own. `read` gives state and data in one query, on a
read session (on SQLite it does not queue behind writers), which is what the bot uses per update.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.core.db import read_sessions, unit_of_work, upsert
from inbox.core.models import TelegramConversation

_KEY = ("bot_id", "chat_id", "user_id", "thread_id", "destiny")


def _key(key: StorageKey) -> dict[str, Any]:
    return {
        "bot_id": key.bot_id,
        "chat_id": key.chat_id,
        "user_id": key.user_id,
        "thread_id": key.thread_id or 0,
        "destiny": key.destiny,
    }


class SQLStorage(BaseStorage):
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, clock: Callable[[], datetime]
    ) -> None:
        self._sessions = sessions
        self._reads = read_sessions(sessions)
        self._clock = clock

    async def _row(self, key: StorageKey) -> TelegramConversation | None:
        async with self._reads() as session:
            ident = _key(key)
            return await session.get(TelegramConversation, tuple(ident[k] for k in _KEY))

    def _upsert(self, session: AsyncSession, key: StorageKey, **values: Any) -> Any:
        row = {**_key(key), "updated_at": self._clock(), **values}
        insert = {"state": None, "data": {}, **row}
        statement = upsert(session, TelegramConversation).values(**insert)
        return statement.on_conflict_do_update(
            index_elements=list(_KEY),
            set_={name: value for name, value in row.items() if name not in _KEY},
        )

    async def _set(self, key: StorageKey, **values: Any) -> None:
        async with unit_of_work(self._sessions) as session:
            await session.execute(self._upsert(session, key, **values))

    async def read(self, key: StorageKey) -> tuple[str | None, dict[str, Any]]:
        """The state and the data together, in one query."""
        row = await self._row(key)
        return (row.state, dict(row.data)) if row else (None, {})

    async def reset_state(self, session: AsyncSession, key: StorageKey) -> None:
        """Clears the state in the caller's transaction (committed with what made it obsolete)."""
        await session.execute(self._upsert(session, key, state=None))

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._set(key, state=value)

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self.read(key))[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._set(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return (await self.read(key))[1]

    async def close(self) -> None:
        """The sessions belong to the caller, who disposes of the engine."""
