"""Reply templates: reusable answers with placeholders, kept by admins and filled in per case.

Placeholders are Swedish words in braces — `{referens}`, `{namn}`, `{enhet}`, `{handläggare}`,
`{organisation}` — replaced by plain text substitution (never `str.format`, which could reach
attributes); an unknown placeholder is refused when the template is saved. A placeholder without a
value for the case stays in the text as it is, and an answer that still has one cannot be sent
(`unfilled`, checked by `inbox.cases.replies`): the author fills it in or removes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.core.models import ReplyTemplate

PLACEHOLDERS = ("referens", "namn", "enhet", "handläggare", "organisation")
_PLACEHOLDER = re.compile(r"\{([^{}\s]+)\}")
MAX_BODY = 20_000


class TemplateError(ValueError):
    """A template that cannot be saved, with a message for the admin."""


def check(name: str, body: str) -> tuple[str, str]:
    name, body = name.strip(), body.replace("\r\n", "\n").strip()
    if not name or len(name) > 100:
        raise TemplateError("Namnet måste ha 1–100 tecken.")
    if not body or len(body) > MAX_BODY:
        raise TemplateError(f"Texten måste ha 1–{MAX_BODY} tecken.")
    unknown = sorted({m for m in _PLACEHOLDER.findall(body) if m not in PLACEHOLDERS})
    if unknown:
        known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
        raise TemplateError(f"Okänd platshållare {{{unknown[0]}}}; använd {known}.")
    return name, body


def render(body: str, values: Mapping[str, str]) -> str:
    """The template with each known placeholder that has a value replaced; the rest stay."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        filled = values.get(name, "").strip() if name in PLACEHOLDERS else ""
        return filled or match.group(0)

    return _PLACEHOLDER.sub(value, body)


def unfilled(text: str) -> list[str]:
    """The template placeholders still in `text`, in order, each once (`{enhet}`, …)."""
    found = [m for m in _PLACEHOLDER.findall(text) if m in PLACEHOLDERS]
    return [f"{{{name}}}" for name in dict.fromkeys(found)]


async def list_templates(session: AsyncSession) -> Sequence[ReplyTemplate]:
    rows = await session.execute(select(ReplyTemplate).order_by(col(ReplyTemplate.name)))
    return rows.scalars().all()


async def save_template(
    session: AsyncSession, *, template_id: int | None, name: str, body: str, now: datetime
) -> ReplyTemplate:
    name, body = check(name, body)
    clash = (
        await session.execute(select(ReplyTemplate).where(col(ReplyTemplate.name) == name))
    ).scalar_one_or_none()
    if clash is not None and clash.id != template_id:
        raise TemplateError(f"Det finns redan en mall som heter {name!r}.")
    if template_id is None:
        template = ReplyTemplate(name=name, body=body, updated_at=now)
        session.add(template)
    else:
        found = await session.get(ReplyTemplate, template_id)
        if found is None:
            raise TemplateError("Mallen finns inte.")
        template = found
        template.name, template.body, template.updated_at = name, body, now
    await session.flush()
    return template


async def delete_template(session: AsyncSession, *, template_id: int) -> None:
    template = await session.get(ReplyTemplate, template_id)
    if template is not None:
        await session.delete(template)
        await session.flush()
