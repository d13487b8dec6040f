"""`node(id:)` and `nodes(ids:)` run as one statement (core/sqljson.py) and answer as graphql-core does.

The same two apps as tests/test_sqljson.py, on one database with two viewers' objects of every
type that has a SQL form: each document is sent to graphql-core and (twice) to the compiled app,
and the answers must be equal as JSON. Another viewer's object, an id that never existed and an
id of a type that does not exist answer null; what the statement can't answer (an invalid id,
too many, a type or a selection without a SQL form, no viewer) goes to the resolvers.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from graphql import GraphQLObjectType, GraphQLSchema, get_named_type, is_leaf_type, parse
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bench.lineup import QUINTET_NODE
from core.fastpath import compile_plan
from core.relay import from_global_id, to_global_id
from core.settings import Settings
from core.sqljson import Children, NodeIds, Parent, SqlType, compile_sql
from models.aurum import Project
from schema.compiled import SQL_TYPES
from services.aurum import table
from tests.akashic.factories import create_akashic_campaign
from tests.factories import (
    create_audit_events,
    create_campaign_donations,
    create_journal,
    create_notifications,
    create_organizations,
    create_resources,
    create_tree,
)
from tests.pairs import Pair, app_pair, post
from tests.support import GraphQLClient
from tests.test_sqljson import compare

pytestmark = pytest.mark.asyncio(loop_scope="session")

#: The types `node` reads in one statement: those declared with their table, and the `Viewer`.
READ_BY_ID = sorted(
    name for name, declared in SQL_TYPES.items() if declared.table is not None or declared.identifies is not None
)


#: Text that JSON must escape.
AWKWARD = 'Quote " backslash \\ tab \t newline \n emoji \U0001f600 accents éà <tag> & \u2028'


@dataclass
class Owner:
    token: str
    user_id: str
    #: global ids of the viewer's objects, by type
    ids: dict[str, list[str]] = field(default_factory=dict)
    #: global ids of objects of an organization the viewer is in, that its role may not read
    hidden: list[str] = field(default_factory=list)

    def all_ids(self) -> list[str]:
        return [value for values in self.ids.values() for value in values]


@dataclass
class World:
    a: Owner
    b: Owner
    #: ids of types that exist nowhere (`Bogus`), of types that are not nodes, and of
    #: declared types that never existed
    absent: list[str]
    #: ids of node types without a SQL form (a notification)
    without_sql: list[str]


@pytest.fixture(scope="module")
async def pair(database_url: str, data_dir: Path) -> AsyncIterator[Pair]:
    async with app_pair(database_url, data_dir, compiled_sql=True) as both:
        yield both


@pytest.fixture(scope="module")
async def world(pair: Pair, engine: AsyncEngine) -> World:
    gql = GraphQLClient(pair.slow)
    owners = []
    async with async_sessionmaker(engine)() as session:
        for _ in range(2):
            viewer = await gql.sign_up()
            user_id = from_global_id(viewer.user_id)[1]
            tree = await create_tree(
                session, user_id=user_id, pillars=1, areas_per_pillar=2, projects_per_area=2, tasks_per_project=2
            )
            journal = await create_journal(session, user_id=user_id, templates=2, entries=4)
            resources = await create_resources(
                session, user_id=user_id, project_ids=tree.projects[:1], task_ids=tree.tasks[:1], unattached=1
            )
            notifications = await create_notifications(session, user_id=user_id, count=1)
            events = await create_audit_events(session, user_id=user_id, count=6, awkward=AWKWARD)
            # Teams the viewer owns, and one where it is a plain member (whose invitations it
            # may not read: they are not among its ids).
            teams = await create_organizations(session, user_id=user_id, count=1)
            # A campaign it manages (two tasks per project, not three: both viewers' ids stay within `nodes`' 100)
            campaign = await create_akashic_campaign(session, user_id=user_id)
            # Akashic donations: of a campaign it manages, and of one where its role may not read them.
            donation_campaign, donations = await create_campaign_donations(session, user_id=user_id)
            _, unreadable = await create_campaign_donations(session, user_id=user_id, role="volunteer")
            owner = Owner(viewer.token, viewer.user_id)
            for type_name, pks in (
                ("Pillar", tree.pillars),
                ("Area", tree.areas),
                ("Project", tree.projects),
                ("Task", tree.tasks),
                ("JournalTemplate", journal.templates),
                ("JournalEntry", journal.entries),
                ("Resource", resources),
                ("AuditEvent", events),
                ("Organization", [*teams.organizations, donation_campaign]),
                ("Donor", donations.donors),
                ("Donation", donations.donations),
                ("DonationLedgerEntry", donations.entries),
                ("Membership", teams.memberships),
                ("Invitation", teams.invitations),
                ("Campaign", [campaign.campaign]),
                ("Message", [campaign.message]),
                ("MessageVersion", [campaign.version]),
                ("MessageTransition", [campaign.transition]),
                ("CampaignContact", [campaign.contact]),
                ("MessageDelivery", [campaign.delivery]),
                ("MessageAnalysis", [campaign.analysis]),
                ("ApiClient", teams.api_clients),
                ("ApiClientKey", teams.api_client_keys),
            ):
                owner.ids[type_name] = [to_global_id(type_name, pk) for pk in pks]
            owner.ids["Viewer"] = [to_global_id("Viewer", user_id)]  # its own viewer
            owner.ids["User"] = [viewer.user_id]  # its own account
            owner.ids["Notification"] = [to_global_id("Notification", pk) for pk in notifications]
            owner.hidden = [
                *(to_global_id("Invitation", pk) for pk in teams.hidden_invitations),
                *(to_global_id("ApiClient", pk) for pk in teams.hidden_api_clients),
                *(to_global_id("ApiClientKey", pk) for pk in teams.hidden_api_client_keys),
                *(to_global_id("Donation", pk) for pk in unreadable.donations),
            ]
            owners.append(owner)
        await session.commit()
        # Awkward values: text JSON must escape, arrays empty and odd, an attachment with a
        # size beyond 32 bits, a template with no prompts, an entry on another viewer's template.
        awkward = 'Quote " backslash \\ tab \t newline \n emoji \U0001f600 accents éà <tag> & \u2028'
        a_user, b_user = (from_global_id(owner.user_id)[1] for owner in owners)
        await session.execute(
            sa.text(
                "UPDATE journal_entries SET tags = ARRAY[:text, '', 'NULL', '{}', 'a,b'], body = :text, mood = NULL "
                "WHERE user_id = :user AND title = 'Entry 0'"
            ),
            {"text": awkward, "user": a_user},
        )
        await session.execute(
            sa.text("UPDATE journal_templates SET prompts = '{}', description = :text WHERE name = 'Template 1'"),
            {"text": awkward},
        )
        await session.execute(
            sa.text(
                "UPDATE resources SET kind = 'attachment', url = NULL, file_name = :text, "
                "content_type = 'application/pdf', size_bytes = 9007199254740991 WHERE project_id IS NOT NULL"
            ),
            {"text": awkward},
        )
        await session.execute(
            sa.text(
                "UPDATE journal_entries SET template_id = "
                "(SELECT id FROM journal_templates WHERE user_id = :b LIMIT 1) "
                "WHERE user_id = :a AND title = 'Entry 1'"
            ),
            {"a": a_user, "b": b_user},
        )
        await session.commit()
    a, b = owners
    absent = [
        to_global_id("Bogus", uuid.uuid4()),
        to_global_id("Viewer", uuid.uuid4()),
        to_global_id("Progress", uuid.uuid4()),
        *(to_global_id(type_name, uuid.uuid4()) for type_name in READ_BY_ID),
    ]
    without_sql = [a.ids.pop("Notification")[0]]
    b.ids.pop("Notification")
    return World(a, b, absent, without_sql)


async def answered_by_sql(
    pair: Pair, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> None:
    """Assert that one statement answered, as graphql-core would (saying what came instead)."""
    if await compare(pair, query, variables, token) != "sql":
        answer = await post(pair.fast, {"query": query, "variables": variables}, token)
        pytest.fail(f"the resolvers answered:\n{query}\nvariables: {variables}\n{answer}")


async def data(pair: Pair, query: str, variables: dict[str, Any] | None, token: str | None) -> Any:
    answer = await post(pair.fast, {"query": query, "variables": variables}, token)
    assert "errors" not in answer, answer
    return answer["data"]


# ----------------------------------------------------------------------------- documents

#: Every declared field of every type `node` reads, with their parents and children (aliased
#: where two types' fields of one name have different types, which validation refuses).
EVERY_FIELD = """
fragment Every on Node { __typename id
  ... on Pillar { name description color icon position createdAt updatedAt
    progress { __typename percent totalTasks completedTasks }
    areas(first: 1) { totalCount nodes { id name pillar { name } } } }
  ... on Area { name description importance position createdAt updatedAt progress { percent }
    pillar { id name } projects(orderBy: NAME_DESC) { totalCount nodes { name } } }
  ... on Project { name description projectStatus: status priority dueAt position createdAt updatedAt
    progress { completedTasks } area { name pillar { name } }
    tasks(filter: {status: [TODO, DONE]}, orderBy: TITLE_DESC) { totalCount nodes { title isOverdue } } }
  ... on Task { title description taskStatus: status priority dueAt completedAt position createdAt updatedAt
    isOverdue taskProject: project { name area { id } } }
  ... on JournalTemplate { name description prompts createdAt updatedAt }
  ... on JournalEntry { title body mood tags createdAt updatedAt template { __typename id name prompts } }
  ... on Resource { kind title url fileName contentType sizeBytes createdAt updatedAt
    resourceProject: project { name status } task { title project { name } } }
  ... on AuditEvent { at actorKind actorUserId actorLabel action operation targetTable targetKey targetId
    changes requestId }
  ... on Viewer { pillars(first: 2) { totalCount nodes { id name } } }
  ... on Organization { name slug organizationKind: kind createdAt
    members(orderBy: JOINED_AT_DESC) { totalCount nodes { id role joinedAt } }
    invitations(filter: {status: [PENDING, EXPIRED, ACCEPTED]}, orderBy: EMAIL_ASC) {
      totalCount nodes { email status expiresAt } }
    pending: invitations(first: 1) { totalCount nodes { id } }
    organizationCampaign: campaign { id office } }
  ... on Membership { role joinedAt organization { slug members { totalCount } } }
  ... on Invitation { email role invitationStatus: status createdAt expiresAt acceptedAt declinedAt revokedAt
    organization { name } }
  ... on Campaign { office jurisdiction electionDate party electionCycle fecCommitteeId createdAt updatedAt
    organization { name campaign { id } } messages(orderBy: UPDATED_AT_ASC) { totalCount nodes { id title } }
    donationTotals { cycle totalCents contributedCents reversedCents contributions donors }
    thisCycle: donationTotals(cycle: 2026) { cycle totalCents } noCycle: donationTotals(cycle: 2022) { cycle } }
  ... on Message { title channel audienceSegments paid messageStatus: status scheduledFor sentAt createdAt updatedAt
    createdBy { id } messageCampaign: campaign { office } latestVersion { number body }
    versions { totalCount nodes { number summary } } transitions { totalCount nodes { toStatus } } }
  ... on MessageVersion { number body summary createdAt author { id } message { title }
    parentVersion { id } restoredFrom { id } analysis { id analysisStatus: status riskLevel issueCount } }
  ... on MessageAnalysis { analysisStatus: status riskLevel issueCount resonanceScore error model durationMs
    createdAt completedAt version { number analysis { id } } message { title } requestedBy { id } }
  ... on MessageTransition { fromStatus toStatus note scheduledFor at actor { id } message { title } }
  ... on ApiClient { name scopes documentPolicy createdAt lastUsedAt revokedAt organization { slug }
    keys(first: 5) { totalCount nodes { prefix keyExpiresAt: expiresAt } } }
  ... on ApiClientKey { prefix createdAt keyExpiresAt: expiresAt revokedAt lastUsedAt client { name scopes } }
}
"""
NODE = EVERY_FIELD + "query One($id: ID!) { node(id: $id) { ...Every } }"
NODES = EVERY_FIELD + "query Many($ids: [ID!]!) { nodes(ids: $ids) { ...Every } }"


async def test_node_reads_every_declared_type_and_field_in_one_statement(pair: Pair, world: World) -> None:
    assert set(READ_BY_ID) == set(world.a.ids), "a type read by id without objects in the world"
    for type_name, ids in world.a.ids.items():
        for value in ids:
            await answered_by_sql(pair, NODE, {"id": value}, world.a.token)
            found = (await data(pair, NODE, {"id": value}, world.a.token))["node"]
            assert found["id"] == value
            assert found["__typename"] == type_name
    # Every object at once, in order.
    everything = world.a.all_ids()
    await answered_by_sql(pair, NODES, {"ids": everything}, world.a.token)
    found = (await data(pair, NODES, {"ids": everything}, world.a.token))["nodes"]
    assert [node["id"] for node in found] == everything


async def test_the_benchmark_node_operation_is_one_statement(pair: Pair, world: World) -> None:
    for value in (world.a.ids["Task"][0], world.b.ids["Task"][0], world.a.ids["Pillar"][0]):
        await answered_by_sql(pair, QUINTET_NODE, {"id": value}, world.a.token)


async def test_another_viewers_objects_are_null_by_any_id(pair: Pair, world: World) -> None:
    for reader, owner in ((world.b, world.a), (world.a, world.b)):
        for value in owner.all_ids():
            await answered_by_sql(pair, NODE, {"id": value}, reader.token)
            assert (await data(pair, NODE, {"id": value}, reader.token))["node"] is None
            # Its owner does see it, through the same plan.
            assert (await data(pair, NODE, {"id": value}, owner.token))["node"]["id"] == value
        # In batches that `nodes` takes (MAX_NODES ids), half the owner's and half the reader's
        from resolvers.node import MAX_NODES

        half = MAX_NODES // 2
        for start in range(0, max(len(owner.all_ids()), len(reader.all_ids())), half):
            theirs, mine = owner.all_ids()[start : start + half], reader.all_ids()[start : start + half]
            await answered_by_sql(pair, NODES, {"ids": [*theirs, *mine]}, reader.token)
            found = (await data(pair, NODES, {"ids": [*theirs, *mine]}, reader.token))["nodes"]
            assert found[: len(theirs)] == [None] * len(theirs)
            assert [node["id"] for node in found[len(theirs) :]] == mine


async def test_a_member_whose_role_may_not_invite_reads_no_invitation(pair: Pair, world: World) -> None:
    # Each viewer is a plain member of one more team, whose invitations exist but are not theirs to read
    for reader in (world.a, world.b):
        assert reader.hidden
        for value in reader.hidden:
            await answered_by_sql(pair, NODE, {"id": value}, reader.token)
            assert (await data(pair, NODE, {"id": value}, reader.token))["node"] is None
        query = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Invitation { organization { id } } } }"
        await answered_by_sql(pair, query, {"ids": reader.hidden}, reader.token)
        assert (await data(pair, query, {"ids": reader.hidden}, reader.token))["nodes"] == [None] * len(reader.hidden)
    # And through the viewer's list: its own team shows its pending invitations, the other none
    members = "{ viewer { organizations(first: 100) { nodes { role organization { invitations { totalCount } } } } } }"
    await answered_by_sql(pair, members, None, world.a.token)
    listed = (await data(pair, members, None, world.a.token))["viewer"]["organizations"]["nodes"]
    counts = {(node["role"], node["organization"]["invitations"]["totalCount"]) for node in listed}
    # (Its Akashic campaigns have no invitations.)
    assert counts == {("owner", 2), ("member", 0), ("campaign_manager", 0), ("volunteer", 0)}


async def test_an_entry_on_another_viewers_template_has_no_template(pair: Pair, world: World) -> None:
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on JournalEntry { title template { id } } } }"
    entries = world.a.ids["JournalEntry"]
    await answered_by_sql(pair, query, {"ids": entries}, world.a.token)
    found = {
        node["title"]: node["template"] for node in (await data(pair, query, {"ids": entries}, world.a.token))["nodes"]
    }
    assert found["Entry 1"] is None  # B's template
    assert found["Entry 0"]["id"] in world.a.ids["JournalTemplate"]
    assert found["Entry 2"] is None  # written from no template


async def test_absent_ids_duplicates_and_mixed_types_keep_their_places(pair: Pair, world: World) -> None:
    for value in world.absent:
        await answered_by_sql(pair, NODE, {"id": value}, world.a.token)
        assert (await data(pair, NODE, {"id": value}, world.a.token))["node"] is None
    rng = random.Random(7)
    pool = [*world.a.all_ids(), *world.b.all_ids(), *world.absent]
    for size in (0, 1, 2, 5, 30, 100):
        ids = [rng.choice(pool) for _ in range(size)]
        if size >= 2:
            ids[-1] = ids[0]  # a duplicate
        await answered_by_sql(pair, NODES, {"ids": ids}, world.a.token)
        found = (await data(pair, NODES, {"ids": ids}, world.a.token))["nodes"]
        mine = set(world.a.all_ids())
        assert [node["id"] if node else None for node in found] == [v if v in mine else None for v in ids]


async def test_literals_variables_aliases_and_fragments(pair: Pair, world: World) -> None:
    task, pillar = world.a.ids["Task"][0], world.a.ids["Pillar"][0]
    theirs, bogus = world.b.ids["Resource"][0], world.absent[0]
    literal = f"""
      fragment Named on Node {{ id }}
      fragment OnTask on Task {{ title status }}
      {{
        node(id: "{task}") {{ ...Named ... on Task {{ ...OnTask project {{ ... on Node {{ id }} }} }} }}
        again: node(id: "{task}") {{ __typename }}
        pillar: node(id: "{pillar}") {{ ... on Pillar {{ name }} ... on Task {{ title }} }}
        gone: node(id: "{theirs}") {{ id }}
        nodes(ids: ["{pillar}", "{bogus}", "{task}", "{pillar}"]) {{ __typename ...Named ...OnTask }}
        one: nodes(ids: "{task}") {{ id }}
        none: nodes(ids: []) {{ id }}
        viewer {{ pillars {{ totalCount }} }}
      }}
    """
    await answered_by_sql(pair, literal, None, world.a.token)
    answer = await data(pair, literal, None, world.a.token)
    assert set(answer["pillar"]) == {"name"}
    assert answer["gone"] is None
    assert answer["none"] == []
    assert answer["one"] == [{"id": task}]
    assert [node and node["__typename"] for node in answer["nodes"]] == ["Pillar", None, "Task", "Pillar"]
    # The same through variables, one of them inside a list.
    variables = """
      query V($task: ID!, $pillar: ID!, $ids: [ID!]!, $more: ID!) {
        node(id: $task) { id ... on Task { title } }
        pillar: node(id: $pillar) { ... on Pillar { name } }
        nodes(ids: $ids) { id }
        listed: nodes(ids: [$more, $task]) { __typename }
      }
    """
    values = {"task": task, "pillar": pillar, "ids": [theirs, task, bogus], "more": pillar}
    await answered_by_sql(pair, variables, values, world.a.token)
    swapped = {"task": pillar, "pillar": task, "ids": [], "more": theirs}
    await answered_by_sql(pair, variables, swapped, world.a.token)
    assert (await data(pair, variables, swapped, world.a.token))["node"] == {"id": pillar}


async def test_a_statement_is_made_once_per_type_of_id_and_holds_no_value(
    pair: Pair, world: World, engine: AsyncEngine
) -> None:
    query = "query One($id: ID!) { node(id: $id) { id } nodes(ids: [$id]) { id } }"
    first, again, second = world.a.ids["Task"][0], world.a.ids["Task"][1], world.a.ids["Pillar"][0]
    await answered_by_sql(pair, query, {"id": first}, world.a.token)
    plan = pair.plans.get(query, None)
    assert plan is not None
    assert plan.sql is not None
    statement = plan.sql
    for value in (again, second, first):
        await answered_by_sql(pair, query, {"id": value}, world.a.token)
    assert pair.plans.get(query, None) is plan
    assert plan.sql is statement
    # One statement per type of the id, whatever the id: two tasks share theirs.
    by_type = {arms: shape for (_, arms), shape in statement.statements.items()}
    assert set(by_type) == {(frozenset({"Task"}),) * 2, (frozenset({"Pillar"}),) * 2}
    texts = {arms[0]: by_type[arms].rendered(engine.dialect).sql for arms in by_type}
    for text in texts.values():
        for value in (first, again, second):
            assert value not in text
            assert str(from_global_id(value)[1]) not in text
    # Each reads its type's table only: no subquery of the other types is planned or started.
    assert "FROM tasks" in texts[frozenset({"Task"})]
    assert "FROM pillars" not in texts[frozenset({"Task"})]
    assert "FROM pillars" in texts[frozenset({"Pillar"})]
    assert "FROM tasks" not in texts[frozenset({"Pillar"})]


async def test_ids_of_several_types_share_the_statement_of_every_type(pair: Pair, world: World) -> None:
    query = "query Several($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    task, pillar, project = world.a.ids["Task"][0], world.a.ids["Pillar"][0], world.a.ids["Project"][0]
    unknown = to_global_id("Bogus", uuid.uuid4())  # of no type: null
    for ids in ([task, pillar], [pillar, project], [project, task, pillar], [task, task], [unknown]):
        await answered_by_sql(pair, query, {"ids": ids}, world.a.token)
    plan = pair.plans.get(query, None)
    assert plan is not None
    assert plan.sql is not None
    # Mixed types: one statement with every type's arm; one type (tasks): its own; none known: its own.
    assert {arms for _, arms in plan.sql.statements} == {(None,), (frozenset({"Task"}),), (frozenset(),)}


async def test_what_the_statement_cannot_answer_goes_to_the_resolvers(pair: Pair, world: World) -> None:
    token = world.a.token
    task = world.a.ids["Task"][0]
    # Ids that are not global ids, literal and variable, alone or among good ones: INVALID_ID.
    for value in ("nope", "", "VGFzazpub3QtYS11dWlk", 12):
        for query, variables in (
            (NODE, {"id": value}),
            (NODES, {"ids": [task, value]}),
        ):
            assert await compare(pair, query, variables, token) == "resolvers", value
    assert await compare(pair, '{ node(id: "nope") { id } }', None, token) == "resolvers"
    # More than 100 ids: TOO_MANY_IDS (100 are fine, above).
    assert await compare(pair, NODES, {"ids": [task] * 101}, token) == "resolvers"
    # A variable that does not coerce: graphql-core says so.
    assert await compare(pair, NODES, {"ids": None}, token) == "resolvers"
    assert await compare(pair, NODES, {"ids": [task, None]}, token) == "resolvers"
    # Node types without a SQL form (a notification), alone or among others.
    for value in world.without_sql:
        assert await compare(pair, NODE, {"id": value}, token) == "resolvers"
        assert await compare(pair, NODES, {"ids": [task, value]}, token) == "resolvers"
    # No viewer: the resolvers answer null for every id.
    assert await compare(pair, NODE, {"id": task}, None) == "resolvers"
    assert await compare(pair, NODES, {"ids": [task, world.absent[0]]}, None) == "resolvers"


async def test_a_campaigns_totals_of_one_cycle_bind_the_cycle_per_request(pair: Pair, world: World) -> None:
    query = """query($ids: [ID!]!, $cycle: Int) { nodes(ids: $ids) { id
      ... on Campaign { donationTotals(cycle: $cycle) { cycle donors } } } }"""
    ids = [world.a.ids["Campaign"][0], world.a.ids["Task"][0], world.b.ids["Campaign"][0]]
    # A cycle, another, null: one statement each, as graphql-core answers
    for cycle in (2026, 2022, None):
        await answered_by_sql(pair, query, {"ids": ids, "cycle": cycle}, world.a.token)
    # Not an FEC cycle: the resolvers' VALIDATION error
    for bad in (2027, 1970):
        assert await compare(pair, query, {"ids": ids, "cycle": bad}, world.a.token) == "resolvers"
        answer = await post(pair.fast, {"query": query, "variables": {"ids": ids, "cycle": bad}}, world.a.token)
        assert [error["extensions"]["code"] for error in answer["errors"]] == ["VALIDATION"]


async def test_a_selection_without_sql_form_sends_only_that_types_ids_to_the_resolvers(
    pair: Pair, world: World
) -> None:
    token = world.a.token
    query = """query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Notification { title } ... on Task { title } } }"""
    notification, project = world.without_sql[0], world.a.ids["Project"][0]
    # A notification has no SQL form; a project, a task or an absent id needs nothing of the sort.
    assert await compare(pair, query, {"ids": [notification]}, token) == "resolvers"
    assert await compare(pair, query, {"ids": [project, notification]}, token) == "resolvers"
    await answered_by_sql(pair, query, {"ids": [project, world.b.ids["Task"][0], world.absent[0]]}, token)
    # A page size the resolvers refuse: checked at every request, whichever types the ids have.
    sized = """query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Pillar { areas(first: 101) { totalCount } } } }"""
    for ids in ([world.a.ids["Pillar"][0]], [project]):
        assert await compare(pair, sized, {"ids": ids}, token) == "resolvers"
    await answered_by_sql(pair, sized.replace("101", "100"), {"ids": [world.a.ids["Pillar"][0], project]}, token)


async def test_each_type_without_a_sql_form_for_the_selection_is_declined_alone(pair: Pair) -> None:
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Task { project { name } } } }"
    plan = compile_plan(pair.schema, parse(query), None)
    assert plan is not None
    statement = compile_sql(plan, None, SQL_TYPES)
    assert statement is not None
    (lookup,) = statement.lookups
    assert isinstance(lookup, NodeIds)
    assert set(lookup.compiled) == set(READ_BY_ID)
    assert set(lookup.declined) == {"Notification", "BackgroundJob", "Insight", "InsightRule"}
    # A nullable parent cannot give the non-null `Task.project`: only tasks need the resolvers.
    task = SQL_TYPES["Task"]
    loose = Parent(table(Project), "project_id", nullable=True)
    types = {**SQL_TYPES, "Task": SqlType({**task.fields, "project": loose}, table=task.table)}
    statement = compile_sql(plan, None, types)
    assert statement is not None
    (lookup,) = statement.lookups
    assert isinstance(lookup, NodeIds)
    assert set(lookup.compiled) == set(READ_BY_ID) - {"Task"}
    assert "nullable parent" in lookup.declined["Task"]


# ----------------------------------------------------------------------------- generated documents


class NodeDocuments:
    """Random `node`/`nodes` documents over the declared fields of the types read by id
    (seeded, so that failures replay): fragments inline and named, aliases, literals and
    variables, and ids of every kind."""

    def __init__(self, schema: GraphQLSchema, world: World, seed: int) -> None:
        self.schema = schema
        self.rng = random.Random(seed)
        self.pool = [*world.a.all_ids(), *world.b.all_ids(), *world.absent]
        # Fields of one name whose types differ between the types (`status`, `project`) can't
        # share a response key under one `node`: they are aliased by type.
        seen: dict[str, set[str]] = {}
        for type_name in READ_BY_ID:
            type_ = schema.get_type(type_name)
            assert isinstance(type_, GraphQLObjectType)
            for name in SQL_TYPES[type_name].fields:
                seen.setdefault(name, set()).add(str(type_.fields[name].type))
        self.conflicting = {name for name, types in seen.items() if len(types) > 1}
        self.max_aliases = Settings().max_aliases
        self.aliases = 0

    def document(self) -> tuple[str, dict[str, Any]]:
        """A document within the server's alias limit (more node types, more aliases by type: one
        over `maxAliases` is refused before it runs, and tests nothing here)."""
        while True:
            self.aliases = 0
            document = self._document()
            if self.aliases + document[0].count(": node") <= self.max_aliases:
                return document

    def _document(self) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        fragments: list[str] = []
        definitions: list[str] = []
        variables: dict[str, Any] = {}
        fields = []
        for number in range(rng.randint(1, 3)):
            many = rng.random() < 0.5
            ids = [rng.choice(self.pool) for _ in range(rng.randint(0, 8) if many else 1)]
            if rng.random() < 0.5:
                name = f"v{number}"
                definitions.append(f"${name}: {'[ID!]!' if many else 'ID!'}")
                variables[name] = ids if many else ids[0]
                argument = f"${name}"
            else:
                argument = "[" + ", ".join(f'"{v}"' for v in ids) + "]" if many else f'"{ids[0]}"'
            selection = self.selection(fragments, number)
            field = f"nodes(ids: {argument})" if many else f"node(id: {argument})"
            fields.append(f"n{number}: {field} {{ {selection} }}")
        head = f"query Generated({', '.join(definitions)})" if definitions else "query Generated"
        return " ".join(fragments) + f" {head} {{ {' '.join(fields)} }}", variables

    def selection(self, fragments: list[str], number: int) -> str:
        rng = self.rng
        parts = [rng.choice(["id", "__typename", "id __typename"])] if rng.random() < 0.7 else []
        for type_name in rng.sample(READ_BY_ID, rng.randint(1, len(READ_BY_ID))):
            fields = self.fields(type_name, depth=0, alias=type_name)
            if rng.random() < 0.3:
                name = f"F{number}{type_name}"
                fragments.append(f"fragment {name} on {type_name} {{ {fields} }}")
                parts.append(f"...{name}")
            else:
                parts.append(f"... on {type_name} {{ {fields} }}")
        return " ".join(parts)

    def fields(self, type_name: str, depth: int, alias: str = "") -> str:
        rng = self.rng
        type_ = self.schema.get_type(type_name)
        assert isinstance(type_, GraphQLObjectType)
        declared: SqlType = SQL_TYPES[type_name]
        leaves = [name for name in declared.fields if is_leaf_type(get_named_type(type_.fields[name].type))]
        parts = [self.key(name, alias) for name in rng.sample(leaves, rng.randint(1, min(5, len(leaves))))]
        parents = [name for name, rule in declared.fields.items() if isinstance(rule, Parent)]
        if parents and depth < 3 and rng.random() < 0.5:
            name = rng.choice(parents)
            parent_type = get_named_type(type_.fields[name].type).name
            parts.append(f"{self.key(name, alias)} {{ {self.fields(parent_type, depth + 1)} }}")
        children = [name for name, rule in declared.fields.items() if isinstance(rule, Children)]
        if children and depth < 2 and rng.random() < 0.3:
            name = rng.choice(children)
            node_type = get_named_type(get_named_type(type_.fields[name].type).fields["nodes"].type).name
            parts.append(
                f"{name}(first: {rng.choice([1, 3])}) {{ totalCount nodes {{ {self.fields(node_type, 2)} }} }}"
            )
        return " ".join(parts)

    def key(self, name: str, alias: str) -> str:
        if alias and name in self.conflicting:
            self.aliases += 1
            return f"{name}{alias}: {name}"
        return name


@pytest.mark.parametrize("seed", range(3))
async def test_generated_node_documents_answer_identically(pair: Pair, world: World, seed: int) -> None:
    generator = NodeDocuments(pair.schema, world, seed)
    for _ in range(15):
        query, variables = generator.document()
        token = world.a.token if generator.rng.random() < 0.7 else world.b.token
        # Every generated id is answerable by the statement: nothing goes to the resolvers.
        await answered_by_sql(pair, query, variables or None, token)


async def test_text_arrays_are_written_as_orjson_writes_the_lists(engine: AsyncEngine) -> None:
    # `prompts` and `tags` are text[] columns, declared as plain columns.
    for type_name, column in (("JournalTemplate", "prompts"), ("JournalEntry", "tags")):
        table = SQL_TYPES[type_name].table
        assert table is not None
        assert isinstance(table.c[column].type, sa.ARRAY)
    value = sa.bindparam("values", type_=sa.ARRAY(sa.Text()))
    statement = sa.select(sa.cast(sa.func.json_build_object("v", value), sa.Text))
    async with engine.connect() as conn:
        for values in ([], [""], ["a", "NULL", "{}", "a,b", 'Quote " \\ \t \n \U0001f600 é \u2028 \x01']):
            written = (await conn.execute(statement, {"values": values})).scalar_one()
            assert orjson.loads(written) == {"v": values}
