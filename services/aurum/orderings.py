"""The orderings of Aurum Life's lists, by GraphQL enum name (`services.owned.standard_sorts`)."""

from __future__ import annotations

from models.aurum import Area, JournalEntry, JournalTemplate, Pillar, Project, Resource, Task
from services.owned import standard_sorts

PILLAR_SORTS = standard_sorts(Pillar, due=False, priority=False, title_column="name")
AREA_SORTS = standard_sorts(Area, due=False, priority=False, title_column="name")
PROJECT_SORTS = standard_sorts(Project, due=True, priority=True, title_column="name")
TASK_SORTS = standard_sorts(Task, due=True, priority=True, title_column="title")
JOURNAL_SORTS = standard_sorts(JournalEntry, due=False, priority=False, position=False, title_column="title")
TEMPLATE_SORTS = standard_sorts(JournalTemplate, due=False, priority=False, position=False, title_column="name")
RESOURCE_SORTS = standard_sorts(Resource, due=False, priority=False, position=False, title_column="title")
