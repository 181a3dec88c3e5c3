"""Staff passwords: argon2 hashes (pwdlib), made and checked on a small thread pool.

Argon2 is deliberately slow (a quarter of a second or more with the recommended parameters), so it
never runs on the event loop, where it would stall SMTP, the worker and every page. The cost is the
hasher's: the CLI and the web app use the recommended parameters; tests pass cheap ones.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher


class Passwords:
    """Hashes and checks passwords; at most `threads` checks run at once (argon2 takes memory)."""

    def __init__(self, hasher: PasswordHash | None = None, *, threads: int = 2) -> None:
        self._hasher = hasher or PasswordHash.recommended()
        self._threads = max(1, threads)
        self._pool: ThreadPoolExecutor | None = None
        self._dummy: str | None = None

    @classmethod
    def argon2(cls, *, time_cost: int, memory_cost: int, parallelism: int) -> Passwords:
        """Argon2id with these parameters (memory in KiB) instead of the recommended ones."""
        hasher = Argon2Hasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
        return cls(PasswordHash((hasher,)))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password: str, password_hash: str | None) -> bool:
        """Whether `password` matches; without a hash, the same work against a dummy and False, so
        an unknown username takes as long as a known one."""
        if password_hash is None:
            if self._dummy is None:
                self._dummy = self._hasher.hash("no such user")
            self._hasher.verify(password, self._dummy)
            return False
        try:
            return self._hasher.verify(password, password_hash)
        except UnknownHashError:
            return False

    async def hash_async(self, password: str) -> str:
        """`hash` off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor(), self.hash, password
        )

    async def verify_async(self, password: str, password_hash: str | None) -> bool:
        """`verify` off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor(), self.verify, password, password_hash
        )

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="passwords")
        return self._pool


# The recommended argon2 parameters (argon2-cffi's: 64 MiB, 3 passes, 4 lanes).
DEFAULT_PASSWORDS = Passwords()
