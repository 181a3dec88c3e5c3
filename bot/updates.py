"""Telegram update JSON → `InboundMessage`: a pure parser the worker runs on the ledger's raw bytes.

The bot stores each feedback update as it came, plus one key of its own, `synpunkt`, holding what
the handler added before the ledger commit: downloaded files (base64), the chat's language choice
and the "new case" marker. Anything that is not feedback (commands, button presses, membership
changes, inline queries) raises `UnparsableMessage` with a clear reason; nothing else raises.

Every JSON the Telegram path reads (getUpdates answers, webhook bodies, stored updates) is decoded
by `loads`, which never nests deeper than `MAX_JSON_DEPTH`: what lies deeper is kept as its text
under `TOO_DEEP`, and an update holding that is kept as a failed ledger row. Deeper JSON would make
`json`, pydantic and every walk of the update recurse once per level (a `RecursionError` at about a
thousand); real updates nest a dozen levels at most.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from inbox.core.inbound import Channel, InboundAttachment, InboundMessage, UnparsableMessage

OURS = "synpunkt"  # the key under which the bot adds its own data to a stored update
MESSAGE_KEYS = ("message", "edited_message", "channel_post", "edited_channel_post")
_MEDIA = ("photo", "document", "video", "voice", "audio", "sticker", "animation", "video_note")
_DEFAULT_TYPES = {
    "photo": ("photo", "image/jpeg", ".jpg"),
    "video": ("video", "video/mp4", ".mp4"),
    "voice": ("audio", "audio/ogg", ".ogg"),
    "audio": ("audio", "audio/mpeg", ".mp3"),
    "animation": ("animation", "video/mp4", ".mp4"),
    "video_note": ("video", "video/mp4", ".mp4"),
    "document": ("document", "application/octet-stream", ".bin"),
    "sticker": ("sticker", "image/webp", ".webp"),
}


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_JSON_DEPTH = 64
NESTED_TOO_DEEP = f"not a Telegram update: JSON nested deeper than {MAX_JSON_DEPTH} levels"
TOO_DEEP = "synpunkt:nested-too-deep"  # the key of what stands in for JSON nested deeper
# A JSON string (skipped whole, brackets inside it are text) or a bracket.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


def loads(data: bytes | str) -> Any:
    """`json.loads`, but what nests deeper than `MAX_JSON_DEPTH` becomes `{TOO_DEEP: its text}`.

    Linear in the input: one scan of its strings and brackets, and only when it has more brackets
    than the limit. Raises what `json.loads` raises on invalid JSON (`ValueError`).
    """
    text = (
        data.decode(json.detect_encoding(data), "surrogatepass")
        if isinstance(data, bytes)
        else data
    )
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return json.loads(text)
    pieces: list[str] = []
    position = depth = start = 0
    for token in _JSON_TOKEN.finditer(text):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth == MAX_JSON_DEPTH + 1:
                start = token.start()
        elif bracket in ("]", "}") and depth:
            if depth == MAX_JSON_DEPTH + 1:
                pieces += (text[position:start], json.dumps({TOO_DEEP: text[start : token.end()]}))
                position = token.end()
            depth -= 1
    if depth > MAX_JSON_DEPTH:  # never closed: invalid JSON, as json.loads will say
        pieces += (text[position:start], json.dumps({TOO_DEEP: text[start:]}))
        position = len(text)
    pieces.append(text[position:])
    return json.loads("".join(pieces))


def too_deep(value: Any) -> bool:
    """Whether `loads` had to cut `value` short (without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if TOO_DEEP in item:
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


_LAST_DAY = datetime(9999, 12, 31, tzinfo=UTC).timestamp()


def _storable(value: Any) -> Any:
    """The update with every string (keys too) cleared of what no database column takes."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("", value)
    if isinstance(value, list):
        return [_storable(v) for v in value]
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file a message carries, by its Bot API id, with the name and type it will be stored as."""

    file_id: str
    filename: str
    content_type: str
    size: int | None = None


def message_of(update: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The update's message-like part and its key, or None for other update types."""
    for key in MESSAGE_KEYS:
        value = update.get(key)
        if isinstance(value, dict):
            return key, value
    return None


def command_of(message: dict[str, Any]) -> str | None:
    """`/start@SomeBot arg` → `start`; None when the text is not a command."""
    text = message.get("text")
    if not isinstance(text, str) or not text.startswith("/"):
        return None
    return text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else ""


def is_stop(message: dict[str, Any]) -> bool:
    """The plain word STOPP (or STOP): an opt-out, not feedback."""
    text = message.get("text")
    return isinstance(text, str) and text.strip().strip(".!").lower() in ("stopp", "stop")


def is_feedback(update: dict[str, Any]) -> bool:
    """A message with words or a file that is not a command: it goes to a case."""
    found = message_of(update)
    if found is None:
        return False
    message = found[1]
    if command_of(message) is not None or is_stop(message):
        return False
    text = message.get("text") or message.get("caption")
    return bool(isinstance(text, str) and text.strip()) or any(k in message for k in _MEDIA)


def file_refs(message: dict[str, Any]) -> list[FileRef]:
    """The files of a message: the largest photo size, or the one document, video, voice …"""
    refs: list[FileRef] = []
    for kind in _MEDIA:
        item = message.get(kind)
        if kind == "photo" and isinstance(item, list) and item:
            item = max(
                (p for p in item if isinstance(p, dict)),
                key=lambda p: (p.get("file_size") or 0, p.get("width") or 0),
                default=None,
            )
        if not isinstance(item, dict) or not isinstance(item.get("file_id"), str):
            continue
        prefix, default_type, default_ext = _DEFAULT_TYPES[kind]
        file_id = item["file_id"]
        mime_type = item.get("mime_type")
        known_type = isinstance(mime_type, str) and "/" in mime_type
        content_type = str(mime_type).strip() if known_type else default_type
        if kind == "sticker" and item.get("is_video"):
            content_type = "video/webm"
        name = item.get("file_name")
        if not isinstance(name, str) or not name.strip():
            ext = default_ext if content_type == default_type else None
            ext = ext or mimetypes.guess_extension(content_type) or default_ext
            if kind == "sticker" and item.get("set_name"):
                name = f"{item['set_name']}{ext}"
            else:
                name = f"{prefix}-{file_id}{ext}"
        elif not known_type:
            content_type = mimetypes.guess_type(name)[0] or default_type
        size = item.get("file_size")
        refs.append(
            FileRef(file_id, name.strip(), content_type, size if isinstance(size, int) else None)
        )
    return refs


def _sender(message: dict[str, Any]) -> tuple[str, str | None]:
    chat = message.get("chat")
    if not isinstance(chat, dict) or "id" not in chat:
        raise UnparsableMessage("not feedback: the message has no chat")
    person = message.get("from") if isinstance(message.get("from"), dict) else None
    source = person or chat  # channel posts have no `from`: the channel is the sender
    name = " ".join(
        str(source[k]).strip() for k in ("first_name", "last_name") if source.get(k)
    ) or str(source.get("title") or "")
    if source.get("username"):
        name = f"{name} (@{source['username']})" if name else f"@{source['username']}"
    return str(chat["id"]), name or None


def _language(update: dict[str, Any], message: dict[str, Any]) -> str | None:
    ours = update.get(OURS)
    if isinstance(ours, dict) and isinstance(ours.get("lang"), str):
        return str(ours["lang"])
    person = message.get("from")
    code = person.get("language_code") if isinstance(person, dict) else None
    return code.split("-")[0].lower()[:8] if isinstance(code, str) and code else None


def _attachments(
    update: dict[str, Any], refs: list[FileRef]
) -> tuple[tuple[InboundAttachment, ...], tuple[str, ...]]:
    ours = update.get(OURS)
    files = ours.get("files", {}) if isinstance(ours, dict) else {}
    attachments: list[InboundAttachment] = []
    defects: list[str] = []
    for ref in refs:
        stored = files.get(ref.file_id) if isinstance(files, dict) else None
        if not isinstance(stored, dict) or not isinstance(stored.get("data"), str):
            reason = stored.get("error") if isinstance(stored, dict) else None
            defects.append(
                f"file {ref.filename} not downloaded" + (f": {reason}" if reason else "")
            )
            continue
        try:
            data = base64.b64decode(stored["data"], validate=True)
        except (binascii.Error, ValueError):
            defects.append(f"file {ref.filename}: stored data is not base64")
            continue
        attachments.append(InboundAttachment(ref.filename, ref.content_type, data))
    return tuple(attachments), tuple(defects)


def parse_update(raw: bytes) -> InboundMessage:
    """The feedback in a stored update, or `UnparsableMessage` saying why it is not feedback."""
    try:
        update = loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnparsableMessage(f"not a Telegram update: invalid JSON ({exc})") from exc
    if too_deep(update):
        raise UnparsableMessage(NESTED_TOO_DEEP)
    update = _storable(update)
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        raise UnparsableMessage("not a Telegram update: no update_id")
    found = message_of(update)
    if found is None:
        kinds = sorted(k for k in update if k not in ("update_id", OURS))
        raise UnparsableMessage(f"not feedback: a {', '.join(kinds) or 'empty'} update")
    key, message = found
    if not is_feedback(update):
        raise UnparsableMessage(f"not feedback: a command or an empty {key}")
    chat_id, name = _sender(message)
    text = message.get("text") if isinstance(message.get("text"), str) else None
    text = text or (message.get("caption") if isinstance(message.get("caption"), str) else "")
    sticker = message.get("sticker")
    if not text and isinstance(sticker, dict) and isinstance(sticker.get("emoji"), str):
        text = sticker["emoji"]
    text = (text or "").strip()
    if key.startswith("edited_"):
        text = f"[redigerat meddelande / edited message]\n{text}"
    attachments, defects = _attachments(update, file_refs(message))
    date = message.get("date")
    found_ours = update.get(OURS)
    ours: dict[str, Any] = found_ours if isinstance(found_ours, dict) else {}
    extra = {"telegram_message_id": str(message.get("message_id", ""))}
    if ours.get("new_case"):
        extra["new_case"] = "1"
    subject = text.splitlines()[0][:80] if text else ""
    return InboundMessage(
        channel=Channel.TELEGRAM,
        external_id=str(update["update_id"]),
        sender_address=chat_id,
        sender_name=name,
        subject=subject,
        text=text,
        display_text=text,
        attachments=attachments,
        message_id=f"{message.get('message_id')}.{chat_id}@telegram",
        chat_id=chat_id,
        language=_language(update, message),
        sent_at=(
            datetime.fromtimestamp(date, UTC)
            if isinstance(date, int) and 0 <= date <= _LAST_DAY
            else None
        ),
        defects=defects,
        raw=raw,
        extra=extra,
    )
