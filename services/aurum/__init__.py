"""Aurum Life: the pillar → area → project → task hierarchy, journal and resources.

One module per sub-domain, each importing the others directly:

- `hierarchy`: pillars, areas, projects and tasks (create, update and move, reorder, delete);
- `journal`: journal entries and templates; `resources`: links and attachments;
- `filters`: the open statuses and "overdue", which the lists filter on;
- `orderings`: the lists' sort orders; `progress`: task completion beneath a node;
- `events`: the live events of hierarchy changes.

Scoping to the caller: every read goes through the read policy `core.reads.Owned` (the kit's
loaders and the SQL form apply it), and every write applies it too: areas, projects and tasks
are created and updated in one statement each (`services.writes`: the parent or the row read
through the policy in the statement itself, the audit event with it), the other writes look
their target up with `get_owned`. Another user's object is indistinguishable from a missing one
(NotFound), never Forbidden. The text, enum and time cleaning of inputs is `services.inputs`'.

Everything that code outside this package uses is re-exported here, as `services.aurum.<name>`.
"""

from __future__ import annotations

from services.aurum.events import HIERARCHY_PARENT, HIERARCHY_TOPIC, publish_hierarchy_change
from services.aurum.filters import (
    IS_OVERDUE,
    OPEN_TASK_STATUSES,
)
from services.aurum.hierarchy import (
    create_area,
    create_pillar,
    create_project,
    create_task,
    delete_area,
    delete_pillar,
    delete_project,
    delete_task,
    reorder_areas,
    reorder_pillars,
    reorder_projects,
    reorder_tasks,
    update_area,
    update_pillar,
    update_project,
    update_task,
)
from services.aurum.journal import (
    create_journal_entry,
    create_journal_template,
    delete_journal_entry,
    delete_journal_template,
    update_journal_entry,
    update_journal_template,
)
from services.aurum.orderings import (
    AREA_SORTS,
    JOURNAL_SORTS,
    PILLAR_SORTS,
    PROJECT_SORTS,
    RESOURCE_SORTS,
    TASK_SORTS,
    TEMPLATE_SORTS,
)
from services.aurum.progress import Progress, progress_shape, progress_source
from services.aurum.resources import ResourceFields, create_resource, delete_resource, update_resource
from services.inputs import as_utc, clean_text, kept_values, required_text, text_changes
from services.owned import get_owned, table

__all__ = [
    "AREA_SORTS",
    "HIERARCHY_PARENT",
    "HIERARCHY_TOPIC",
    "IS_OVERDUE",
    "JOURNAL_SORTS",
    "OPEN_TASK_STATUSES",
    "PILLAR_SORTS",
    "PROJECT_SORTS",
    "RESOURCE_SORTS",
    "TASK_SORTS",
    "TEMPLATE_SORTS",
    "Progress",
    "ResourceFields",
    "as_utc",
    "clean_text",
    "create_area",
    "create_journal_entry",
    "create_journal_template",
    "create_pillar",
    "create_project",
    "create_resource",
    "create_task",
    "delete_area",
    "delete_journal_entry",
    "delete_journal_template",
    "delete_pillar",
    "delete_project",
    "delete_resource",
    "delete_task",
    "get_owned",
    "kept_values",
    "progress_shape",
    "progress_source",
    "publish_hierarchy_change",
    "reorder_areas",
    "reorder_pillars",
    "reorder_projects",
    "reorder_tasks",
    "required_text",
    "table",
    "text_changes",
    "update_area",
    "update_journal_entry",
    "update_journal_template",
    "update_pillar",
    "update_project",
    "update_resource",
    "update_task",
]
