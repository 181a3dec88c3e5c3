"""An e-mail address as people write one into a form: the one rule every form and command uses
(the citizen's forms, decisions, registration by hand, the staff's own settings, the admin's)."""

from __future__ import annotations

import re

# An e-mail address as people write one into a form: one @, a dot in the domain, nothing a mail
# header could be made to carry besides (no spaces, line breaks, angle brackets, commas or
# semicolons). RFC 5321 allows 64 characters for the local part and 255 for the domain.
MAX_MAIL_ADDRESS = 320
_MAIL_ADDRESS = re.compile(r"[^@\s<>\",;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;.]+")


def is_mail_address(text: str) -> bool:
    """Whether `text` (already stripped) is one e-mail address: the one rule every form uses."""
    return len(text) <= MAX_MAIL_ADDRESS and _MAIL_ADDRESS.fullmatch(text) is not None
