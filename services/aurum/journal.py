"""Aurum Life's journal: entries (with a mood and tags, optionally from a template) and the
user's templates of prompts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Actor
from core.errors import ValidationFailed
from models.aurum import JournalEntry, JournalTemplate
from services.inputs import clean_text, required_text, text_changes
from services.owned import apply_changes, delete_owned, get_owned


def _tags(tags: Sequence[str] | None) -> list[str]:
    cleaned: list[str] = []
    for tag in tags or []:
        value = tag.strip().lower()
        if not value:
            continue
        if len(value) > 40:
            raise ValidationFailed("A tag is at most 40 characters", field=["input", "tags"])
        if value not in cleaned:
            cleaned.append(value)
    if len(cleaned) > 20:
        raise ValidationFailed("At most 20 tags", field=["input", "tags"])
    return cleaned


def _mood(mood: int | None) -> int | None:
    if mood is not None and not 1 <= mood <= 10:
        raise ValidationFailed("mood must be between 1 and 10", field=["input", "mood"])
    return mood


def _prompts(prompts: Sequence[str] | None) -> list[str]:
    cleaned = [p.strip() for p in prompts or [] if p.strip()]
    if len(cleaned) > 30 or any(len(p) > 500 for p in cleaned):
        raise ValidationFailed("At most 30 prompts of at most 500 characters", field=["input", "prompts"])
    return cleaned


# ------------------------------------------------------------------------------ entries


async def create_journal_entry(
    session: AsyncSession,
    *,
    actor: Actor,
    title: str,
    body: str,
    mood: int | None,
    tags: Sequence[str] | None,
    template_id: uuid.UUID | None,
) -> JournalEntry:
    if template_id is not None:
        await get_owned(session, JournalTemplate, actor, template_id, field="templateId")
    entry = JournalEntry(
        user_id=actor.user_id,
        template_id=template_id,
        title=required_text(title, field="title", max_length=200),
        body=required_text(body, field="body", max_length=50000),
        mood=_mood(mood),
        tags=_tags(tags),
    )
    session.add(entry)
    await session.flush()
    return entry


async def update_journal_entry(
    session: AsyncSession, *, actor: Actor, entry_id: uuid.UUID, changes: dict[str, Any]
) -> JournalEntry:
    entry = await get_owned(session, JournalEntry, actor, entry_id)
    values = text_changes(changes, {"title": (200, True), "body": (50000, True)})
    if "mood" in changes:
        values["mood"] = _mood(changes["mood"])
    if "tags" in changes:
        values["tags"] = _tags(changes["tags"])
    apply_changes(entry, values)
    await session.flush()
    return entry


async def delete_journal_entry(session: AsyncSession, *, actor: Actor, entry_id: uuid.UUID) -> uuid.UUID:
    await delete_owned(session, JournalEntry, actor, entry_id)
    return entry_id


# ---------------------------------------------------------------------------- templates


async def create_journal_template(
    session: AsyncSession, *, actor: Actor, name: str, description: str | None, prompts: Sequence[str] | None
) -> JournalTemplate:
    template = JournalTemplate(
        user_id=actor.user_id,
        name=required_text(name, field="name", max_length=120),
        description=clean_text(description, field="description", max_length=2000, required=False),
        prompts=_prompts(prompts),
    )
    session.add(template)
    await session.flush()
    return template


async def update_journal_template(
    session: AsyncSession, *, actor: Actor, template_id: uuid.UUID, changes: dict[str, Any]
) -> JournalTemplate:
    template = await get_owned(session, JournalTemplate, actor, template_id)
    values = text_changes(changes, {"name": (120, True), "description": (2000, False)})
    if "prompts" in changes:
        values["prompts"] = _prompts(changes["prompts"])
    apply_changes(template, values)
    await session.flush()
    return template


async def delete_journal_template(session: AsyncSession, *, actor: Actor, template_id: uuid.UUID) -> uuid.UUID:
    await delete_owned(session, JournalTemplate, actor, template_id)
    return template_id
