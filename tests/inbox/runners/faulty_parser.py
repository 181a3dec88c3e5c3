"""A stand-in mail parser that misbehaves on command, for the parse budget's tests.

It is imported by parse processes (spawned), so it lives in a module of its own. A raw message is
`external-id|sender|subject`; the subject may ask for a fault:

- `die`: the parsing process kills itself (SIGKILL), as the OOM killer would;
- `hang:PATH`: the first time (PATH absent) it writes its process id to PATH and waits to be
  killed; once PATH exists it parses normally;
- `sleep`: runs for an hour;
- `hog`: allocates 2 GB;
- `pid`: parses normally and puts its process id in the text.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from inbox.core.inbound import Channel, InboundMessage, UnparsableMessage


def parse(raw: bytes) -> InboundMessage:
    try:
        external_id, sender, subject = raw.decode().split("|")
    except ValueError as exc:
        raise UnparsableMessage(f"not a test mail: {raw[:20]!r}") from exc
    text = "Hej! Jag har en synpunkt."
    if subject == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    elif subject.startswith("hang:"):
        marker = Path(subject.removeprefix("hang:"))
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            time.sleep(600)
    elif subject == "sleep":
        time.sleep(3600)
    elif subject == "hog":
        text = str(len(bytearray(2 * 1024 * 1024 * 1024)))
    elif subject == "pid":
        text = str(os.getpid())
    return InboundMessage(
        channel=Channel.EMAIL,
        external_id=external_id,
        message_id=f"<{external_id}>",
        sender_address=sender,
        subject=subject,
        text=text,
        language="sv",
        raw=raw,
    )
