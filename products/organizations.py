"""Organizations (a platform part): organizations, memberships and invitations, the platform's
"team" kind of organization, the viewer's organizations and an organization's live changes.

Products that own a kind of organization declare it in their own registration
(`Product.organization_kinds`, a `core.access.OrganizationKind`): Akashic's "campaign".
"""

from __future__ import annotations

from core.products import Product
from resolvers.organizations import OrganizationMutation, OrganizationQuery, OrganizationSubscription
from schema import kit
from schema.organizations import ApiClient, ApiClientKey, Invitation, Membership, Organization, OrganizationViewerFields
from services import organizations

TYPES = (Organization, Membership, Invitation, ApiClient, ApiClientKey)

ORGANIZATIONS = Product(
    name="organizations",
    query=OrganizationQuery,
    mutation=OrganizationMutation,
    subscription=OrganizationSubscription,
    viewer=OrganizationViewerFields,
    types=TYPES,
    node_types=kit.node_types(TYPES),
    topics=(organizations.MEMBERS_TOPIC,),
    organization_kinds=(organizations.TEAM,),
    test_world="tests.organizations.world:ORGANIZATIONS_WORLD",
)
