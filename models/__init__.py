"""All tables, imported so that `metadata` knows every one of them."""

from models.aurum import Area, JournalEntry, JournalTemplate, Pillar, Project, Resource, Task
from models.base import metadata
from models.identity import RefreshToken, User
from models.notifications import Notification

__all__ = [
    "Area",
    "JournalEntry",
    "JournalTemplate",
    "Notification",
    "Pillar",
    "Project",
    "RefreshToken",
    "Resource",
    "Task",
    "User",
    "metadata",
]
