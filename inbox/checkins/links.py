"""The links in a check-in mail: a signed, expiring answer link and a signed unsubscribe link.

Signed with `SYNPUNKT_SECRET_KEY` (itsdangerous, HMAC-SHA1 over a compact JSON payload, each kind
with its own salt so one can never pass for the other). The expiry is part of the signed payload
and checked against the injected clock; single use is enforced in the database
(`CheckIn.token_used_at`), not here. The unsubscribe link does not expire: opting out is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import BadSignature, URLSafeSerializer

_ANSWER_SALT = "synpunkt.checkin.answer"
_STOP_SALT = "synpunkt.checkin.stop"


class LinkError(Exception):
    """A link that is forged, damaged or expired; `expired` tells which."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True, slots=True)
class Links:
    secret_key: str
    public_url: str

    def _answers(self) -> URLSafeSerializer:
        return URLSafeSerializer(self.secret_key, salt=_ANSWER_SALT)

    def _stop(self) -> URLSafeSerializer:
        return URLSafeSerializer(self.secret_key, salt=_STOP_SALT)

    def answer_token(self, *, checkin_id: int, expires: datetime) -> str:
        return str(self._answers().dumps({"c": checkin_id, "e": int(expires.timestamp())}))

    def answer_url(self, *, checkin_id: int, expires: datetime) -> str:
        token = self.answer_token(checkin_id=checkin_id, expires=expires)
        return f"{self.public_url.rstrip('/')}/checkin/{token}"

    def read_answer_token(self, token: str, *, now: datetime) -> int:
        """The check-in id; raises LinkError for a forged or expired link."""
        try:
            data = self._answers().loads(token)
            checkin_id, expires = int(data["c"]), int(data["e"])
        except (BadSignature, KeyError, TypeError, ValueError) as exc:
            raise LinkError("the link is not valid") from exc
        if now >= datetime.fromtimestamp(expires, UTC):
            raise LinkError("the link has expired", expired=True)
        return checkin_id

    def stop_token(self, *, contact_id: int) -> str:
        return str(self._stop().dumps({"k": contact_id}))

    def stop_url(self, *, contact_id: int) -> str:
        return (
            f"{self.public_url.rstrip('/')}/checkin/stopp/{self.stop_token(contact_id=contact_id)}"
        )

    def read_stop_token(self, token: str) -> int:
        try:
            return int(self._stop().loads(token)["k"])
        except (BadSignature, KeyError, TypeError, ValueError) as exc:
            raise LinkError("the link is not valid") from exc
