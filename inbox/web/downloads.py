"""Files handed to a browser or an integration: originals, attachments, intake rows.

Always as a download (`Content-Disposition: attachment`, `nosniff`, a sandboxing CSP), never shown
inline: what a sender attached is not ours to trust.
"""

from __future__ import annotations

from fastapi.responses import Response


def download(data: bytes, *, filename: str, media_type: str) -> Response:
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in filename) or "download"
    return Response(
        content=data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{safe}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
