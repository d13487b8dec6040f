"""Statement budgets of a campaign's dashboard read: the same number of statements at 1x and 10x
the messages on the resolvers' path (loaders batch per level), and one statement on a repeat
(the one-statement SQL form)."""

from __future__ import annotations

from tests.akashic.support import AkashicFactory, CampaignRef
from tests.support import GraphQLClient

DASHBOARD = """query D($id: ID!) { node(id: $id) { ... on Campaign { office organization { name }
  messages(first: 50) { totalCount nodes { title status channel audienceSegments createdBy { id }
    latestVersion { number body author { id } }
    versions(first: 5) { totalCount nodes { number summary } }
    transitions { nodes { fromStatus toStatus actor { id } } } } } } } }"""


async def _statements(gql: GraphQLClient, campaign: CampaignRef, count: int) -> tuple[int, int, int]:
    # A document of its own per size (a comment differs): its first request is not yet compiled.
    document = f"{DASHBOARD}\n# {count} messages"
    first = await gql(document, {"id": campaign.id}, token=campaign.manager.token)
    repeat = await gql(document, {"id": campaign.id}, token=campaign.manager.token)
    assert first.data == repeat.data
    return first.statements, repeat.statements, first.data["node"]["messages"]["totalCount"]


async def test_the_dashboard_costs_the_same_at_1x_and_10x(gql: GraphQLClient, akashic_factory: AkashicFactory) -> None:
    measured = []
    for count in (1, 10):
        campaign = await akashic_factory.campaign()
        for n in range(count):
            message = await akashic_factory.message(campaign, f"Text {n}")
            await akashic_factory.save(message, message.version, f"Text {n}, edited", campaign.manager.token)
            await akashic_factory.ok("submitMessage", {"messageId": message.id}, "__typename", campaign.manager.token)
        measured.append(await _statements(gql, campaign, count))
    (one_first, one_repeat, ones), (ten_first, ten_repeat, tens) = measured
    assert (ones, tens) == (1, 10)
    assert one_first == ten_first
    assert (one_repeat, ten_repeat) == (1, 1)
