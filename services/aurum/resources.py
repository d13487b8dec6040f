"""Aurum Life's resources: links and attachments, on their own or attached to a project or a task."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Actor
from core.errors import ValidationFailed
from models.aurum import Project, Resource, ResourceKind, Task
from services.inputs import clean_text, required_text, text_changes
from services.owned import apply_changes, delete_owned, get_owned


@dataclass
class ResourceFields:
    kind: ResourceKind
    title: str
    url: str | None = None
    file_name: str | None = None
    content_type: str | None = None
    size_bytes: int | None = None
    project_id: uuid.UUID | None = None
    task_id: uuid.UUID | None = None
    provided: set[str] = field(default_factory=set)


def _check_url(url: str | None) -> str | None:
    url = clean_text(url, field="url", max_length=2048, required=False)
    if url is not None and not url.lower().startswith(("https://", "http://")):
        raise ValidationFailed("url must start with http:// or https://", field=["input", "url"])
    return url


async def create_resource(session: AsyncSession, *, actor: Actor, fields: ResourceFields) -> Resource:
    if fields.project_id is not None and fields.task_id is not None:
        raise ValidationFailed("Attach a resource to a project or a task, not both", field=["input", "taskId"])
    if fields.project_id is not None:
        await get_owned(session, Project, actor, fields.project_id, field="projectId")
    if fields.task_id is not None:
        await get_owned(session, Task, actor, fields.task_id, field="taskId")
    url = _check_url(fields.url)
    if fields.kind is ResourceKind.LINK and url is None:
        raise ValidationFailed("A link needs a url", field=["input", "url"])
    file_name = clean_text(fields.file_name, field="fileName", max_length=255, required=False)
    if fields.kind is ResourceKind.ATTACHMENT and file_name is None:
        raise ValidationFailed("An attachment needs a fileName", field=["input", "fileName"])
    if fields.size_bytes is not None and fields.size_bytes < 0:
        raise ValidationFailed("sizeBytes must not be negative", field=["input", "sizeBytes"])
    resource = Resource(
        user_id=actor.user_id,
        project_id=fields.project_id,
        task_id=fields.task_id,
        kind=fields.kind.value,
        title=required_text(fields.title, field="title", max_length=200),
        url=url,
        file_name=file_name,
        content_type=clean_text(fields.content_type, field="contentType", max_length=255, required=False),
        size_bytes=fields.size_bytes,
    )
    session.add(resource)
    await session.flush()
    return resource


async def update_resource(
    session: AsyncSession, *, actor: Actor, resource_id: uuid.UUID, changes: dict[str, Any]
) -> Resource:
    resource = await get_owned(session, Resource, actor, resource_id)
    values = text_changes(changes, {"title": (200, True)})
    if "url" in changes:
        values["url"] = _check_url(changes["url"])
        if resource.kind == ResourceKind.LINK.value and values["url"] is None:
            raise ValidationFailed("A link needs a url", field=["input", "url"])
    apply_changes(resource, values)
    await session.flush()
    return resource


async def delete_resource(session: AsyncSession, *, actor: Actor, resource_id: uuid.UUID) -> uuid.UUID:
    await delete_owned(session, Resource, actor, resource_id)
    return resource_id
