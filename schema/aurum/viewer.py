"""The viewer's Aurum Life lists."""

from __future__ import annotations

from schema import kit
from schema.aurum.enums import (
    AreaOrderBy,
    JournalEntryOrderBy,
    JournalTemplateOrderBy,
    PillarOrderBy,
    ProjectOrderBy,
    ResourceOrderBy,
    TaskOrderBy,
)
from schema.aurum.filters import PROJECT_FILTER, TASK_FILTER
from schema.aurum.types import Area, JournalEntry, JournalTemplate, Pillar, Project, Resource, Task
from schema.common import Connection
from schema.viewer_base import ViewerBase


@kit.viewer_fields(description="The signed-in user's Aurum Life data.")
class AurumViewerFields(ViewerBase):
    pillars: Connection[Pillar] = kit.children(
        "user_id", order=PillarOrderBy.POSITION_ASC, description="The viewer's pillars."
    )
    areas: Connection[Area] = kit.children(
        "user_id", order=AreaOrderBy.CREATED_AT_ASC, description="All the viewer's areas, across pillars."
    )
    projects: Connection[Project] = kit.children(
        "user_id",
        order=ProjectOrderBy.DUE_AT_ASC,
        filter=PROJECT_FILTER,
        description="All the viewer's projects, across areas.",
    )
    tasks: Connection[Task] = kit.children(
        "user_id",
        order=TaskOrderBy.DUE_AT_ASC,
        filter=TASK_FILTER,
        description="All the viewer's tasks, across projects: e.g. overdue or due this week.",
    )
    journal_entries: Connection[JournalEntry] = kit.children(
        "user_id",
        order=JournalEntryOrderBy.CREATED_AT_DESC,
        description="The viewer's journal entries, newest first by default.",
    )
    journal_templates: Connection[JournalTemplate] = kit.children(
        "user_id", order=JournalTemplateOrderBy.NAME_ASC, description="The viewer's journal templates."
    )
    resources: Connection[Resource] = kit.children(
        "user_id", order=ResourceOrderBy.CREATED_AT_DESC, description="All the viewer's links and attachments."
    )
