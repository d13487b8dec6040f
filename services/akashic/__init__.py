"""Akashic, the political campaign console: a campaign is an organization of kind `campaign`,
and its staff are its members, each in one of the roles below.

The permission names are the contract between Akashic's parts (messages, knowledge, donations,
the finance report): each service declares the one it needs with `core.access.requires`, and the
README's permission matrix is generated from this declaration.
"""

from __future__ import annotations

from core.access import AUDIT_READ, CHANGE_ROLE, DELETE, INVITE, MANAGE_CLIENTS, READ_EMAIL, REMOVE, OrganizationKind

#: The campaign's staff roles, strongest first (the campaign manager owns the campaign).
CAMPAIGN_MANAGER = "campaign_manager"
COMMUNICATIONS_DIRECTOR = "communications_director"
FINANCE_DIRECTOR = "finance_director"
FIELD_ORGANIZER = "field_organizer"
VOLUNTEER = "volunteer"
ROLES = (CAMPAIGN_MANAGER, COMMUNICATIONS_DIRECTOR, FINANCE_DIRECTOR, FIELD_ORGANIZER, VOLUNTEER)

CAMPAIGN_UPDATE = "campaign.update"
MESSAGES_READ = "messages.read"
MESSAGES_DRAFT = "messages.draft"
MESSAGES_APPROVE = "messages.approve"
MESSAGES_SEND = "messages.send"
KNOWLEDGE_READ = "knowledge.read"
KNOWLEDGE_WRITE = "knowledge.write"
DONATIONS_READ = "donations.read"
FINANCE_REPORT = "finance.report"
CONTACTS_READ = "contacts.read"
CONTACTS_WRITE = "contacts.write"

_EVERYONE = ROLES
_COMMS = (CAMPAIGN_MANAGER, COMMUNICATIONS_DIRECTOR)
_FINANCE = (CAMPAIGN_MANAGER, FINANCE_DIRECTOR)
#: Who works with the campaign's voter contacts (names, addresses, phone numbers): the campaign's
#: outreach staff. Finance has its own donors; volunteers see no contact's details.
_OUTREACH = (CAMPAIGN_MANAGER, COMMUNICATIONS_DIRECTOR, FIELD_ORGANIZER)

CAMPAIGN = OrganizationKind(
    name="campaign",
    roles=ROLES,
    permissions={
        INVITE: _COMMS,
        REMOVE: (CAMPAIGN_MANAGER,),
        CHANGE_ROLE: (CAMPAIGN_MANAGER,),
        READ_EMAIL: (CAMPAIGN_MANAGER, COMMUNICATIONS_DIRECTOR, FINANCE_DIRECTOR, FIELD_ORGANIZER),
        AUDIT_READ: (CAMPAIGN_MANAGER, FINANCE_DIRECTOR),
        DELETE: (CAMPAIGN_MANAGER,),
        MANAGE_CLIENTS: (CAMPAIGN_MANAGER,),
        CAMPAIGN_UPDATE: (CAMPAIGN_MANAGER,),
        MESSAGES_READ: _EVERYONE,
        MESSAGES_DRAFT: (CAMPAIGN_MANAGER, COMMUNICATIONS_DIRECTOR, FIELD_ORGANIZER),
        MESSAGES_APPROVE: _COMMS,
        MESSAGES_SEND: _COMMS,
        KNOWLEDGE_READ: _EVERYONE,
        KNOWLEDGE_WRITE: _COMMS,
        DONATIONS_READ: _FINANCE,
        FINANCE_REPORT: _FINANCE,
        CONTACTS_READ: _OUTREACH,
        CONTACTS_WRITE: _OUTREACH,
    },
    description="A political campaign (Akashic): its staff and volunteers",
    # A campaign needs its office, jurisdiction, election date, party and cycle: Akashic creates
    # campaigns through its own mutation.
    creatable=False,
    meanings={
        CAMPAIGN_UPDATE: "edit the campaign's details (office, jurisdiction, election date, party, cycle)",
        MESSAGES_READ: "read the campaign's messages, their versions, diffs, workflow history and analyses",
        MESSAGES_DRAFT: "create messages, save versions, restore a version, co-edit drafts, "
        "request analysis, submit for review",
        MESSAGES_APPROVE: "approve a message in review or send it back to draft",
        MESSAGES_SEND: "schedule and send an approved message (email through SendGrid, SMS through Twilio)",
        KNOWLEDGE_READ: "search the campaign's knowledge base and the shared starter corpus",
        KNOWLEDGE_WRITE: "add and remove the campaign's knowledge documents",
        DONATIONS_READ: "read donations and donors, follow the donation ticker",
        FINANCE_REPORT: "export the FEC Schedule A report",
        CONTACTS_READ: "read the campaign's contacts and who each message was delivered to "
        "(`Campaign.contacts`, `MessageDelivery.recipient` and `contact`; others read the delivery statuses)",
        CONTACTS_WRITE: "add and import contacts, record their opt-outs",
    },
)
