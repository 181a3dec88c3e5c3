"""Files handed to a browser or an integration: originals, attachments, intake rows.

As a download (`Content-Disposition: attachment`, `nosniff`, a sandboxing CSP): what a sender
attached is not ours to trust. Only images and PDFs, recognised by their first bytes, are also shown
inline in the case page's viewer (`inline_view`), from a response that sandboxes itself. Which media type each is served as is decided
here too: a received message as what its channel delivered (`raw_form`), an attachment as the type
it was stored with when that is a well-formed one (`stored_type`).
"""

from __future__ import annotations

import re

from fastapi.responses import Response

from inbox.core.inbound import Channel

OCTET_STREAM = "application/octet-stream"
RFC822 = "message/rfc822"
JSON = "application/json"
# `type/subtype` in RFC 6838's restricted names, without parameters.
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


def raw_form(channel: str) -> tuple[str, str]:
    """(file suffix, media type) of a message as received: a mail as it came, or the JSON the
    other channels' adapters store."""
    return (".eml", RFC822) if channel == Channel.EMAIL else (".json", JSON)


def stored_type(content_type: str) -> str:
    """The media type an attachment is served as: its stored type, or octet-stream if malformed."""
    media_type = content_type.split(";")[0].strip().lower()
    return media_type if _MEDIA_TYPE.fullmatch(media_type) else OCTET_STREAM


def _safe_name(filename: str, fallback: str) -> str:
    """The file name for Content-Disposition: letters, digits and . _ - kept, the rest `_`."""
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in filename) or fallback


def download(data: bytes, *, filename: str, media_type: str) -> Response:
    safe = _safe_name(filename, "download")
    return Response(
        content=data,
        headers={
            # Set as is: Starlette would append a charset to text/*, which bytes need not have.
            "Content-Type": media_type,
            "Content-Disposition": f'attachment; filename="{safe}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


# What a browser may show inline: images and PDFs, recognised by their first bytes (never by the
# name or the type the sender claimed). HTML, SVG and anything else that can run script are never
# shown, only downloaded.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),  # after "RIFF" and the length
    (b"%PDF-", 0, "application/pdf"),
)
# How many first bytes the signatures need.
SNIFF_BYTES = 16


def sniff_viewable(data: bytes) -> str | None:
    """The media type to show `data` inline as, from its content, or None to offer it only as a
    download."""
    for signature, offset, media_type in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            if media_type == "image/webp" and not data.startswith(b"RIFF"):
                continue
            return media_type
    return None


def inline_view(data: bytes, *, filename: str) -> Response | None:
    """`data` to be shown in the case page's viewer (an `<img>`, or an `<iframe>` of the same
    origin for a PDF), or None when it is not an image or a PDF.

    The response sandboxes itself (`Content-Security-Policy: sandbox`): an `<iframe sandbox>`
    would do the same, but Chromium refuses to show a PDF in one. Opened on its own, it runs
    nothing either; `nosniff` keeps the browser to the type decided here."""
    media_type = sniff_viewable(data)
    if media_type is None:
        return None
    safe = _safe_name(filename, "bilaga")
    return Response(
        content=data,
        headers={
            "Content-Type": media_type,
            "Content-Disposition": f'inline; filename="{safe}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox; frame-ancestors 'self'",
            "X-Frame-Options": "SAMEORIGIN",
        },
    )
