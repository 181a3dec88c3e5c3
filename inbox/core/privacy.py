"""The privacy notice (GDPR art. 13) every citizen can read at `/integritet`: who is responsible,
how to reach the data protection officer, how long things are kept — what the organisation
configures — and `privacy_url`, the link every text a citizen receives should carry.
"""

from __future__ import annotations

from dataclasses import dataclass

PRIVACY_PATH = "/integritet"


def privacy_url(public_url: str, *, language: str = "sv") -> str:
    """Where the privacy notice is, under `public_url` (SYNPUNKT_PUBLIC_URL); in English with
    `language="en"`, in Swedish otherwise."""
    url = public_url.rstrip("/") + PRIVACY_PATH
    return url + "?lang=en" if language == "en" else url


@dataclass(frozen=True, slots=True)
class PrivacyNotice:
    """What the organisation says about itself in the notice (see the README's settings)."""

    controller: str  # the personuppgiftsansvarig: the nämnd, e.g. "Socialnämnden i Exempelby"
    controller_contact: str | None = None  # postal address, phone, e-mail: how to reach it
    dpo_contact: str | None = None  # the dataskyddsombud: how to reach them
    retention: str | None = None  # how long cases are kept, in the organisation's own words
    more: str | None = None  # further text (SYNPUNKT_PRIVACY_NOTICE_FILE), paragraphs

    @property
    def complete(self) -> bool:
        """Whether art. 13's contact details are all configured."""
        return bool(self.controller_contact and self.dpo_contact)
