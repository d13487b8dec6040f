"""Task completion beneath a project, an area or a pillar: the value and the statements that count it."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from core.access import readable
from core.reads import Shape
from models.aurum import Area, Project, Task, TaskStatus
from services.owned import table


@dataclass(frozen=True)
class Progress:
    """Task completion beneath a node; cancelled tasks count for neither side."""

    total_tasks: int = 0
    completed_tasks: int = 0

    @property
    def percent(self) -> float:
        """100 * completed / total, rounded half to even to one decimal, computed exactly in
        integers (the compiled SQL path, `core.sqljson.one_decimal`, computes the same)."""
        if self.total_tasks == 0:
            return 0.0
        tenths, remainder = divmod(1000 * self.completed_tasks, self.total_tasks)
        if remainder * 2 > self.total_tasks or (remainder * 2 == self.total_tasks and tenths % 2 == 1):
            tenths += 1
        return tenths / 10


@functools.cache
def progress_shape(level: str) -> Shape:
    """One grouped statement for the progress of many projects, areas or pillars (`ids`) of
    the viewer (`viewer_id`)."""
    source, key, tasks, total, completed = progress_source(level)
    return Shape(
        sa.select(key.label("key"), total.label("total"), completed.label("completed"))
        .select_from(source)
        .where(
            readable(tasks, table=table(Task)),
            key == sa.any_(sa.bindparam("ids", type_=ARRAY(sa.Uuid()))),
        )
        .group_by(key)
    )


def progress_source(
    level: str, *, aliased: bool = False
) -> tuple[Any, sa.ColumnElement[Any], Any, sa.ColumnElement[int], sa.ColumnElement[int]]:
    """What progress at `level` counts: (FROM clause, the node's key column, the tasks table,
    total and completed counts). `aliased` gives fresh aliases, for use inside another query."""
    tasks: Any
    projects: Any
    areas: Any
    tasks, projects, areas = table(Task), table(Project), table(Area)
    if aliased:
        tasks, projects, areas = tasks.alias(), projects.alias(), areas.alias()
    total = sa.func.count().filter(tasks.c.status != TaskStatus.CANCELLED.value)
    completed = sa.func.count().filter(tasks.c.status == TaskStatus.DONE.value)
    source: Any = tasks
    if level == "project":
        key = tasks.c.project_id
    elif level == "area":
        source = tasks.join(projects, projects.c.id == tasks.c.project_id)
        key = projects.c.area_id
    elif level == "pillar":
        source = tasks.join(projects, projects.c.id == tasks.c.project_id).join(areas, areas.c.id == projects.c.area_id)
        key = areas.c.pillar_id
    else:
        raise ValueError(f"no progress for {level!r}")
    return source, key, tasks, total, completed
