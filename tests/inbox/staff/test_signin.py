"""Sign-in throttling in the core: counted atomically, so concurrent guesses get no extra checks."""

from __future__ import annotations

import asyncio
import threading

import pytest

from inbox.core.db import unit_of_work
from inbox.staff.passwords import Passwords
from inbox.staff.signin import SignInRefused, SignInThrottled, Throttle, client_key, sign_in
from inbox.staff.users import add_user
from tests.conftest import CHEAP_PASSWORDS, Clock, Database

PASSWORD = "rätt-lösenord-123"


class CountingPasswords(Passwords):
    """Cheap argon2 that counts the password checks it makes."""

    def __init__(self) -> None:
        super().__init__(CHEAP_PASSWORDS._hasher, threads=4)
        self._lock = threading.Lock()
        self.checks = 0

    def verify(self, password: str, password_hash: str | None) -> bool:
        with self._lock:
            self.checks += 1
        return super().verify(password, password_hash)


async def _karin(db: Database, clock: Clock) -> None:
    async with unit_of_work(db.sessions) as session:
        await add_user(
            session,
            username="karin",
            role="caseworker",
            unit_codes=["vuxen"],
            password=PASSWORD,
            now=clock(),
            passwords=CHEAP_PASSWORDS,
        )


async def _attempt(
    db: Database, clock: Clock, passwords: Passwords, *, password: str, addr: str
) -> str:
    try:
        await sign_in(
            db.sessions,
            username="karin",
            password=password,
            remote_addr=addr,
            now=clock(),
            passwords=passwords,
        )
    except SignInThrottled:
        return "throttled"
    except SignInRefused:
        return "refused"
    return "signed in"


async def test_sixteen_concurrent_wrong_passwords_get_at_most_five_checks(
    db: Database, clock: Clock
) -> None:
    await _karin(db, clock)
    passwords = CountingPasswords()
    results = await asyncio.gather(
        *(
            _attempt(db, clock, passwords, password=f"fel-{n}", addr="203.0.113.9")
            for n in range(16)
        )
    )
    limit = Throttle().per_address_user
    assert passwords.checks <= limit
    assert results.count("refused") == passwords.checks
    assert results.count("throttled") == 16 - passwords.checks
    # Afterwards the right password from that address is refused too, without a check.
    assert await _attempt(db, clock, passwords, password=PASSWORD, addr="203.0.113.9") == (
        "throttled"
    )
    assert passwords.checks <= limit


async def test_concurrent_guesses_from_many_addresses_stop_at_the_user_limit(
    db: Database, clock: Clock
) -> None:
    await _karin(db, clock)
    passwords = CountingPasswords()
    results = await asyncio.gather(
        *(_attempt(db, clock, passwords, password="fel", addr=f"198.51.100.{n}") for n in range(30))
    )
    assert passwords.checks <= Throttle().per_user
    assert results.count("refused") == passwords.checks
    assert "signed in" not in results


async def test_the_right_password_signs_in_and_forgives_the_users_failures(
    db: Database, clock: Clock
) -> None:
    await _karin(db, clock)
    for _ in range(4):
        assert await _attempt(db, clock, CHEAP_PASSWORDS, password="fel", addr="10.0.0.1") == (
            "refused"
        )
    assert await _attempt(db, clock, CHEAP_PASSWORDS, password=PASSWORD, addr="10.0.0.1") == (
        "signed in"
    )
    for _ in range(5):
        assert await _attempt(db, clock, CHEAP_PASSWORDS, password="fel", addr="10.0.0.1") == (
            "refused"
        )
    assert await _attempt(db, clock, CHEAP_PASSWORDS, password="fel", addr="10.0.0.1") == (
        "throttled"
    )


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        (None, "-"),
    ],
)
def test_an_ipv6_client_is_counted_by_its_network(address: str | None, key: str) -> None:
    assert client_key(address) == key
