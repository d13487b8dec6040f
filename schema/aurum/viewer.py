"""The viewer's Aurum Life lists."""

from __future__ import annotations

from typing import Annotated

import strawberry

from loaders.base import PageKey
from schema.aurum.enums import (
    AreaOrderBy,
    JournalEntryOrderBy,
    JournalTemplateOrderBy,
    PillarOrderBy,
    ProjectOrderBy,
    ResourceOrderBy,
    TaskOrderBy,
)
from schema.aurum.filters import PROJECT_FILTER, TASK_FILTER, ProjectFilterInput, TaskFilterInput
from schema.aurum.types import (
    Area,
    FilterArg,
    JournalEntry,
    JournalTemplate,
    OrderArg,
    Pillar,
    Project,
    Resource,
    Task,
)
from schema.common import After, Before, Connection, Ctx, First, Last, connection, read_page_args
from schema.viewer_base import ViewerBase


@strawberry.type(description="The signed-in user's Aurum Life data.")
class AurumViewerFields(ViewerBase):
    @strawberry.field(description="The viewer's pillars.")
    async def pillars(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        order_by: Annotated[PillarOrderBy, OrderArg] = PillarOrderBy.POSITION_ASC,
    ) -> Connection[Pillar]:
        args = read_page_args(info, first, after, last, before)
        page = await info.context.loaders.aurum.pillars_by_user.load(PageKey(self.user_pk, args, order_by.value))
        return connection(page, Pillar.from_row)

    @strawberry.field(description="All the viewer's areas, across pillars.")
    async def areas(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        order_by: Annotated[AreaOrderBy, OrderArg] = AreaOrderBy.CREATED_AT_ASC,
    ) -> Connection[Area]:
        args = read_page_args(info, first, after, last, before)
        page = await info.context.loaders.aurum.areas_by_user.load(PageKey(self.user_pk, args, order_by.value))
        return connection(page, Area.from_row)

    @strawberry.field(description="All the viewer's projects, across areas.")
    async def projects(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[ProjectFilterInput | None, FilterArg] = None,
        order_by: Annotated[ProjectOrderBy, OrderArg] = ProjectOrderBy.DUE_AT_ASC,
    ) -> Connection[Project]:
        args = read_page_args(info, first, after, last, before)
        key = PageKey(self.user_pk, args, order_by.value, PROJECT_FILTER.values(filter))
        return connection(await info.context.loaders.aurum.projects_by_user.load(key), Project.from_row)

    @strawberry.field(description="All the viewer's tasks, across projects: e.g. overdue or due this week.")
    async def tasks(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[TaskFilterInput | None, FilterArg] = None,
        order_by: Annotated[TaskOrderBy, OrderArg] = TaskOrderBy.DUE_AT_ASC,
    ) -> Connection[Task]:
        args = read_page_args(info, first, after, last, before)
        key = PageKey(self.user_pk, args, order_by.value, TASK_FILTER.values(filter))
        return connection(await info.context.loaders.aurum.tasks_by_user.load(key), Task.from_row)

    @strawberry.field(description="The viewer's journal entries, newest first by default.")
    async def journal_entries(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        order_by: Annotated[JournalEntryOrderBy, OrderArg] = JournalEntryOrderBy.CREATED_AT_DESC,
    ) -> Connection[JournalEntry]:
        args = read_page_args(info, first, after, last, before)
        key = PageKey(self.user_pk, args, order_by.value)
        return connection(await info.context.loaders.aurum.journal_entries_by_user.load(key), JournalEntry.from_row)

    @strawberry.field(description="The viewer's journal templates.")
    async def journal_templates(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        order_by: Annotated[JournalTemplateOrderBy, OrderArg] = JournalTemplateOrderBy.NAME_ASC,
    ) -> Connection[JournalTemplate]:
        args = read_page_args(info, first, after, last, before)
        key = PageKey(self.user_pk, args, order_by.value)
        page = await info.context.loaders.aurum.journal_templates_by_user.load(key)
        return connection(page, JournalTemplate.from_row)

    @strawberry.field(description="All the viewer's links and attachments.")
    async def resources(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        order_by: Annotated[ResourceOrderBy, OrderArg] = ResourceOrderBy.CREATED_AT_DESC,
    ) -> Connection[Resource]:
        args = read_page_args(info, first, after, last, before)
        key = PageKey(self.user_pk, args, order_by.value)
        return connection(await info.context.loaders.aurum.resources_by_user.load(key), Resource.from_row)
