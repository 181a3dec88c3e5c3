"""Attachment sizes as people read them (issue 18: not "1048576 byte")."""

from __future__ import annotations

import pytest

from inbox.web.render import file_size


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (None, "–"),
        (0, "0 B"),
        (67, "67 B"),
        (999, "999 B"),
        (1000, "1,0 kB"),
        (9949, "9,9 kB"),
        (12_345, "12 kB"),
        (999_499, "999 kB"),
        (999_500, "1,0 MB"),
        (1_234_567, "1,2 MB"),
        (3_400_000, "3,4 MB"),
        (25_000_000, "25 MB"),
        (2_500_000_000, "2,5 GB"),
    ],
)
def test_sizes_read_in_swedish(size: int | None, shown: str) -> None:
    assert file_size(size) == shown
