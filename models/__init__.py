"""All tables, imported so that `metadata` knows every one of them."""

from core.webhooks import WebhookDelivery
from models.akashic import Campaign, Message, MessageTransition, MessageVersion
from models.akashic_analysis import MessageAnalysis
from models.akashic_donations import Donation, DonationLedgerEntry, Donor
from models.akashic_drafts import MessageDraftState
from models.akashic_knowledge import KnowledgeChunk, KnowledgeDocument
from models.akashic_sending import Contact, MessageDelivery
from models.api_clients import ApiClient, ApiClientKey
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
    "ApiClientKey",
    "Area",
    "AuditEvent",
    "BackgroundJob",
    "Campaign",
    "Contact",
    "Donation",
    "DonationLedgerEntry",
    "Donor",
    "HrmFeedback",
    "HrmRule",
    "HrmUserPreferences",
    "Insight",
    "Invitation",
    "JournalEntry",
    "JournalTemplate",
    "KnowledgeChunk",
    "KnowledgeDocument",
    "Membership",
    "Message",
    "MessageAnalysis",
    "MessageDelivery",
    "MessageDraftState",
    "MessageTransition",
    "MessageVersion",
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
    "WebhookDelivery",
    "metadata",
]
