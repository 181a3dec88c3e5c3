"""inbox.cases.queries: the list cursor holds up against whatever a client sends back."""

from __future__ import annotations

import base64
import math
import random
from datetime import UTC, datetime

import pytest

from inbox.cases.queries import InvalidCursor, decode_cursor, encode_cursor

AT = datetime(2026, 3, 10, 9, 30, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize("score", [None, -3.25, 0.0, 1e-9])
def test_a_cursor_we_made_decodes_to_its_position(score: float | None) -> None:
    assert decode_cursor(encode_cursor(AT, 42, score)) == (AT, 42, score)


def _mutations(seed: int) -> list[str]:
    """Real cursors with characters replaced, cut, doubled, or their decoded text altered."""
    rng = random.Random(seed)
    alphabet = "ABCxyz019-_+/=|.:T!ü\x00 "
    found = []
    for _ in range(400):
        cursor = encode_cursor(AT, rng.randint(1, 10**6), rng.choice([None, rng.uniform(-9, 9)]))
        how = rng.randrange(4)
        if how == 0:
            at = rng.randrange(len(cursor))
            cursor = cursor[:at] + rng.choice(alphabet) + cursor[at + 1 :]
        elif how == 1:
            cursor = cursor[: rng.randrange(len(cursor))]
        elif how == 2:
            cursor = cursor * rng.randint(2, 4)
        else:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            at = rng.randrange(len(text))
            text = text[:at] + rng.choice(alphabet) + text[at + 1 :]
            cursor = base64.urlsafe_b64encode(text.encode()).decode()
        found.append(cursor)
    return found


@pytest.mark.parametrize("seed", range(5))
def test_a_tampered_cursor_is_either_a_sound_position_or_invalid(seed: int) -> None:
    for cursor in _mutations(seed):
        try:
            at, case_id, score = decode_cursor(cursor)
        except InvalidCursor:
            continue
        # What the database will be asked to bind: an aware UTC time, an INTEGER id, a real score.
        assert at.tzinfo is not None and at.utcoffset() is not None and not at.utcoffset()
        assert 1 <= case_id <= 2**31 - 1
        assert score is None or math.isfinite(score)
