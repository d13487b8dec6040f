"""All tables, imported so that `metadata` knows every one of them."""

from models.api_clients import ApiClient
from models.audit import AuditEvent
from models.aurum import Area, JournalEntry, JournalTemplate, Pillar, Project, Resource, Task
from models.base import metadata
from models.identity import RefreshToken, User
from models.insights import HrmFeedback, HrmRule, HrmUserPreferences, Insight
from models.jobs import BackgroundJob
from models.notifications import Notification
from models.organizations import Invitation, Membership, Organization
from models.trusted_documents import SchemaVersion, TrustedDocument

__all__ = [
    "ApiClient",
    "Area",
    "AuditEvent",
    "BackgroundJob",
    "HrmFeedback",
    "HrmRule",
    "HrmUserPreferences",
    "Insight",
    "Invitation",
    "JournalEntry",
    "JournalTemplate",
    "Membership",
    "Notification",
    "Organization",
    "Pillar",
    "Project",
    "RefreshToken",
    "Resource",
    "SchemaVersion",
    "Task",
    "TrustedDocument",
    "User",
    "metadata",
]
