"""Akashic's AI analysis of message versions: the offline rules on crafted messages (findings,
resonance with reasons, rewrites that fix what they say), and the whole path over the API: a
request queues the version's analysis and its job, a worker runs it (retrieving from the
knowledge base, citing readable chunks), the job's progress arrives live, the campaign's
message changes say so; who may request and who may read; bad ids; a failing provider."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from starlette.applications import Starlette

from core.relay import from_global_id, to_global_id
from core.settings import Settings
from services import jobs
from services.akashic import analysis, analysis_rules
from services.akashic.analysis_rules import FindingCode, Severity, analyse_text, sms_size
from tests.akashic.support import AkashicFactory, CampaignRef, MessageRef
from tests.fake_openai import EmbeddingReply, Fail, FakeOpenAI, Reply
from tests.jobs_support import drain, worker_settings
from tests.live.conftest import Feed, LiveServer, serve, ws_session
from tests.support import GraphQLClient

COMMITTEE = "Chen for Senate"
ANALYSIS = """id status riskLevel issueCount resonanceScore error model durationMs completedAt
  version { id } requestedBy { id }
  findings { code category severity message quote start end fix }
  resonance { group name score reasons }
  rewrites { title text fixes }
  citations { chunkId documentId title source shared excerpt score }
  readingGrade smsSegments"""
REQUEST = f"analysis {{ {ANALYSIS} }} job {{ id kind status }}"
VERSION_ANALYSIS = (
    f"""query($id: ID!) {{ node(id: $id) {{ ... on MessageVersion {{ analysis {{ {ANALYSIS} }} }} }} }}"""
)
ATTACK = "Our opponent is a LIAR and a CROOK!!! VOTE HIM OUT!"


def codes(text: str, *, channel: str = "email", paid: bool = False) -> set[FindingCode]:
    return {f.code for f in analyse_text(text, channel=channel, paid=paid, committee=COMMITTEE).findings}


# ------------------------------------------------------------------------------- the rules


def test_a_paid_email_without_its_disclaimer_is_high_risk_and_the_rewrite_adds_it() -> None:
    body = "Our plan lowers costs for working families. Chip in today."
    answer = analyse_text(body, channel="email", paid=True, committee=COMMITTEE)
    (finding,) = answer.findings
    assert (finding.code, finding.severity) == (FindingCode.MISSING_DISCLAIMER, Severity.HIGH)
    assert analysis_rules.risk_level(answer.findings) is Severity.HIGH
    (rewrite,) = answer.rewrites
    assert rewrite.fixes == [FindingCode.MISSING_DISCLAIMER]
    assert rewrite.text.endswith("Paid for by Chen for Senate.")
    assert codes(rewrite.text, paid=True) == set()
    # the same text, unpaid, needs no disclaimer
    assert codes(body, paid=False) == set()


def test_a_300_character_sms_takes_segments_and_the_rewrite_fits_one() -> None:
    body = ("Early voting is open at the county library until 7pm tonight, bring a friend and your ID. " * 4)[:300]
    assert len(body) == 300
    answer = analyse_text(body, channel="sms", paid=False, committee=COMMITTEE)
    assert answer.sms_segments == 2  # 300 GSM-7 characters: parts of 153
    (finding,) = [f for f in answer.findings if f.code is FindingCode.SMS_LENGTH]
    assert "2 segments" in finding.message
    shortened = next(r for r in answer.rewrites if FindingCode.SMS_LENGTH in r.fixes)
    assert sms_size(shortened.text).segments == 1
    assert FindingCode.SMS_LENGTH not in codes(shortened.text, channel="sms")
    # one character outside GSM-7 makes it UCS-2: 70 a message, then parts of 67
    assert sms_size("Vote 🗳 " * 10).encoding == "UCS-2"
    assert sms_size("a" * 70 + "é").segments == 1  # é is GSM-7
    assert sms_size("a" * 70 + "ł").segments == 2  # ł is not: 71 UCS-2 units


def test_every_fix_together_clears_every_finding_it_names() -> None:
    body = "WE GUARANTEE lower rent for every family in the river wards!!! " * 4
    answer = analyse_text(body, channel="sms", paid=True, committee=COMMITTEE)
    together = answer.rewrites[-1]
    assert together.title == "Every fix together"
    assert {FindingCode.SMS_LENGTH, FindingCode.MISSING_DISCLAIMER, FindingCode.ALL_CAPS} <= set(together.fixes)
    assert codes(together.text, channel="sms", paid=True) & set(together.fixes) == set()
    assert together.text.endswith("Paid for by Chen for Senate.")
    assert sms_size(together.text).segments == 1


def test_an_all_caps_attack_line_is_flagged_and_the_softened_rewrite_clears_it() -> None:
    answer = analyse_text(ATTACK, channel="social_post", paid=False, committee=COMMITTEE)
    found = {f.code for f in answer.findings}
    assert {FindingCode.ALL_CAPS, FindingCode.EXCLAMATION, FindingCode.ATTACK_LANGUAGE} <= found
    assert analysis_rules.risk_level(answer.findings) is Severity.HIGH
    attacks = [f for f in answer.findings if f.code is FindingCode.ATTACK_LANGUAGE]
    assert [ATTACK[f.start : f.end] for f in attacks] == ["LIAR", "CROOK"]
    softened = next(r for r in answer.rewrites if FindingCode.ATTACK_LANGUAGE in r.fixes)
    assert codes(softened.text, channel="social_post") & set(softened.fixes) == set()
    assert "liar" not in softened.text.lower()


def test_claims_guarantees_and_unsourced_figures() -> None:
    found = analyse_text(
        "We guarantee the best schools in the state. Crime fell 23% last year.",
        channel="email",
        paid=False,
        committee=COMMITTEE,
    ).findings
    claims = [f for f in found if f.code is FindingCode.UNSUPPORTED_CLAIM]
    assert {f.quote.lower() for f in claims} == {"guarantee", "the best"}
    assert [f.quote for f in found if f.code is FindingCode.UNSOURCED_NUMBER] == ["Crime fell 23% last year."]
    # a figure with its source, and a year, are not flagged
    assert codes("According to the county clerk, turnout rose 12% in 2022.") == set()


def test_a_clean_message_has_no_findings_and_a_low_risk() -> None:
    answer = analyse_text(
        "Join us Saturday at the library to talk about our schools.", channel="email", paid=False, committee=COMMITTEE
    )
    assert answer.findings == []
    assert answer.rewrites == []
    assert analysis_rules.risk_level(answer.findings) is Severity.LOW


def test_a_hard_text_for_an_sms_is_over_its_reading_level() -> None:
    hard = (
        "Comprehensive intergovernmental infrastructure modernization necessitates unprecedented "
        "administrative coordination, substantial appropriations and continuous accountability mechanisms."
    )
    answer = analyse_text(hard, channel="social_post", paid=False, committee=COMMITTEE)
    assert answer.reading_grade > 16
    assert FindingCode.READING_LEVEL in {f.code for f in answer.findings}
    assert analysis_rules.flesch_kincaid_grade("We can win. Vote on Tuesday.") < 4


def test_resonance_per_typology_group_with_the_words_that_move_it() -> None:
    text = "Rent, groceries and gas cost too much. Our plan cuts the bills families pay every month."
    scored = {r.group: r for r in analysis_rules.resonance(text)}
    assert set(scored) == {g.key for g in analysis_rules.TYPOLOGY}
    sideliners = scored["stressed-sideliners"]
    assert sideliners.score == max(r.score for r in scored.values())
    assert "'rent'" in sideliners.reasons[0]
    assert "'bills'" in sideliners.reasons[0]
    progressive = analysis_rules.resonance("We will cut taxes and restore law and order.")
    left = next(r for r in progressive if r.group == "progressive-left")
    assert left.score < 0.5
    assert "reject" in left.reasons[-1]
    # overall: the mean over the groups the audience segments name, else over all nine
    everyone = analysis_rules.overall_resonance(list(scored.values()), [])
    assert everyone == round(sum(r.score for r in scored.values()) / 9, 3)
    assert analysis_rules.overall_resonance(list(scored.values()), ["Stressed Sideliners"]) == sideliners.score


# ---------------------------------------------------------------------------- over the API


async def _analysis(gql: GraphQLClient, version: str, token: str) -> Any:
    return (await gql(VERSION_ANALYSIS, {"id": version}, token=token)).data["node"]["analysis"]


async def _request(gql: GraphQLClient, version: str, token: str) -> dict[str, Any]:
    return await gql.call("requestMessageAnalysis", {"versionId": version}, REQUEST, token=token)


async def _chunk_owners(engine: AsyncEngine, chunk_ids: list[str]) -> list[uuid.UUID | None]:
    pks = [from_global_id(chunk)[1] for chunk in chunk_ids]
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT c.id, d.organization_id FROM knowledge_chunks c JOIN knowledge_documents d"
                " ON d.id = c.document_id WHERE c.id = ANY(:ids)"
            ),
            {"ids": pks},
        )
        owners = {row.id: row.organization_id for row in rows}
    assert set(owners) == set(pks), "a citation names no chunk"
    return [owners[pk] for pk in pks]


async def _add_document(factory: AkashicFactory, campaign: CampaignRef, text: str) -> None:
    await factory.ok(
        "addKnowledgeDocument",
        {"campaignId": campaign.organization_id, "title": "Field memo", "source": "internal", "text": text},
        "document { id }",
        campaign.manager.token,
    )


async def test_a_requested_analysis_runs_in_a_worker_and_cites_readable_chunks(
    gql: GraphQLClient, akashic_factory: AkashicFactory, settings: Settings, engine: AsyncEngine
) -> None:
    campaign = await akashic_factory.campaign()
    other = await akashic_factory.campaign()
    memo = "Riverside wards canvass: flooding buyouts and ferry schedules matter most to riverside voters."
    await _add_document(akashic_factory, campaign, memo)
    await _add_document(akashic_factory, other, memo)  # the same words, another campaign: never cited
    body = (
        "Riverside neighbors: our flooding buyouts plan keeps families safe and ferry schedules reliable. "
        "Rent and bills are too high; we will work to lower them."
    )
    message = await akashic_factory.message(campaign, body=body, channel="EMAIL", paid=True)

    requested = await _request(gql, message.version, campaign.manager.token)
    assert requested["errors"] == []
    assert requested["analysis"]["status"] == "QUEUED"
    assert requested["analysis"]["findings"] is None
    assert requested["job"]["kind"] == analysis.ANALYSIS_KIND
    assert requested["job"]["status"] == "QUEUED"
    # asked again while queued: the same analysis and job
    again = await _request(gql, message.version, campaign.manager.token)
    assert (again["analysis"]["id"], again["job"]["id"]) == (requested["analysis"]["id"], requested["job"]["id"])

    await drain(worker_settings(settings))
    done = await _analysis(gql, message.version, campaign.manager.token)
    assert done["id"] == requested["analysis"]["id"]
    assert done["status"] == "SUCCEEDED"
    assert done["model"] == "offline/templates-v1"
    assert done["riskLevel"] == "HIGH"  # paid, without its disclaimer
    assert done["issueCount"] == len(done["findings"]) >= 1
    assert "MISSING_DISCLAIMER" in {f["code"] for f in done["findings"]}
    assert {r["group"] for r in done["resonance"]} == {g.key for g in analysis_rules.TYPOLOGY}
    assert all(0 <= r["score"] <= 1 and r["reasons"] for r in done["resonance"])
    assert 0 <= done["resonanceScore"] <= 1
    assert any("MISSING_DISCLAIMER" in r["fixes"] for r in done["rewrites"])
    assert done["version"]["id"] == message.version
    assert done["requestedBy"]["id"] == campaign.manager.user_id

    # citations: real chunks, the campaign's own memo among them, never the other campaign's
    cited = [c["chunkId"] for c in done["citations"]]
    assert cited
    owners = await _chunk_owners(engine, cited)
    assert all(owner in (None, from_global_id(campaign.organization_id)[1]) for owner in owners)
    assert any(c["title"] == "Field memo" and not c["shared"] for c in done["citations"])
    # each is a chunk the member's own knowledge search finds
    search = await gql(
        "query($c: ID!, $q: String!) { knowledgeSearch(campaignId: $c, query: $q, first: 50) { chunkId } }",
        {"c": campaign.organization_id, "q": " or ".join(analysis.search_words(body))},
        token=campaign.manager.token,
    )
    assert set(cited) <= {hit["chunkId"] for hit in search.data["knowledgeSearch"]}

    # the rewrite that fixes the disclaimer, analysed again, no longer has the finding
    fixed = next(r for r in done["rewrites"] if r["fixes"] == ["MISSING_DISCLAIMER"])
    saved = await akashic_factory.save(message, message.version, fixed["text"], campaign.manager.token)
    assert saved["errors"] == []
    await _request(gql, saved["version"]["id"], campaign.manager.token)
    await drain(worker_settings(settings))
    after = await _analysis(gql, saved["version"]["id"], campaign.manager.token)
    assert after["status"] == "SUCCEEDED"
    assert "MISSING_DISCLAIMER" not in {f["code"] for f in after["findings"]}

    # a finished analysis asked again runs again, in place, with a new job
    rerun = await _request(gql, message.version, campaign.manager.token)
    assert rerun["analysis"]["id"] == requested["analysis"]["id"]
    assert rerun["analysis"]["status"] == "QUEUED"
    assert rerun["analysis"]["riskLevel"] is None
    assert rerun["job"]["id"] != requested["job"]["id"]
    await drain(worker_settings(settings))
    assert (await _analysis(gql, message.version, campaign.manager.token))["status"] == "SUCCEEDED"


async def test_who_may_request_and_who_may_read(
    gql: GraphQLClient, akashic_factory: AkashicFactory, settings: Settings
) -> None:
    campaign = await akashic_factory.campaign()
    volunteer, _ = await akashic_factory.staff(campaign, "volunteer")
    organizer, _ = await akashic_factory.staff(campaign, "field_organizer")
    outsider = await gql.sign_up()
    message = await akashic_factory.message(campaign, body=ATTACK, channel="SOCIAL_POST")

    # a volunteer reads messages but may not request an analysis
    refused = await gql.call(
        "requestMessageAnalysis",
        {"versionId": message.version},
        "analysis { id } errors { ... on ForbiddenError { permission } }",
        token=volunteer.token,
    )
    assert refused["analysis"] is None
    assert refused["errors"][0]["code"] == "FORBIDDEN"
    assert refused["errors"][0]["permission"] == "messages.draft"
    # an outsider can't even name the version
    hidden = await _request(gql, message.version, outsider.token)
    assert (hidden["analysis"], hidden["errors"][0]["code"]) == (None, "NOT_FOUND")

    # a field organizer drafts messages: may request; the job is theirs alone
    requested = await _request(gql, message.version, organizer.token)
    assert requested["errors"] == []
    joined = await _request(gql, message.version, campaign.manager.token)
    assert joined["analysis"]["id"] == requested["analysis"]["id"]
    assert joined["job"] is None  # the queued job is the organizer's
    await drain(worker_settings(settings))

    read = await _analysis(gql, message.version, volunteer.token)
    assert read["status"] == "SUCCEEDED"
    assert read["riskLevel"] == "HIGH"
    assert {"ATTACK_LANGUAGE", "ALL_CAPS"} <= {f["code"] for f in read["findings"]}
    analysis_id = read["id"]
    job = "query($id: ID!) { node(id: $id) { ... on MessageAnalysis { status job { id } } } }"
    assert (await gql(job, {"id": analysis_id}, token=organizer.token)).data["node"]["job"] is not None
    assert (await gql(job, {"id": analysis_id}, token=volunteer.token)).data["node"]["job"] is None
    # to an outsider the analysis and the version do not exist
    for node in (analysis_id, message.version):
        assert (await gql(job, {"id": node}, token=outsider.token)).data["node"] is None


async def test_bad_version_ids_are_typed_errors(gql: GraphQLClient, akashic_factory: AkashicFactory) -> None:
    campaign = await akashic_factory.campaign()
    token = campaign.manager.token
    not_an_id = await _request(gql, "not-an-id", token)
    assert (not_an_id["analysis"], not_an_id["errors"][0]["code"]) == (None, "VALIDATION")
    assert not_an_id["errors"][0]["field"] == ["input", "versionId"]
    wrong_type = await _request(gql, campaign.id, token)
    assert wrong_type["errors"][0]["code"] == "VALIDATION"
    missing = await _request(gql, to_global_id("MessageVersion", uuid.uuid4()), token)
    assert (missing["analysis"], missing["errors"][0]["code"]) == (None, "NOT_FOUND")


def _remote(settings: Settings, fake: FakeOpenAI, **overrides: Any) -> Settings:
    return worker_settings(
        settings,
        openai_api_key="test-key",
        openai_base_url=fake.base_url,
        ai_chat_model="scripted-chat",
        ai_embedding_model="fake-embedding-1",
        ai_max_retries=0,
        **overrides,
    )


async def test_a_model_is_asked_the_same_schema_with_the_chunks_and_its_answer_is_checked(
    gql: GraphQLClient, akashic_factory: AkashicFactory, settings: Settings, fake_openai: FakeOpenAI
) -> None:
    await drain(worker_settings(settings))  # no other job left to take the fake's scripted answers
    campaign = await akashic_factory.campaign()
    message = await akashic_factory.message(campaign, body="Riverside families deserve lower rent.", channel="SMS")
    await _request(gql, message.version, campaign.manager.token)
    answer = analyse_text("Riverside families deserve lower rent.", channel="sms", paid=False, committee="x")
    content = answer.model_dump(mode="json")
    content["findings"] = [
        {
            "code": "UNSUPPORTED_CLAIM",
            "severity": "medium",
            "message": "A claim",
            "quote": "deserve",
            "start": 18,
            "end": 25,
            "fix": "Say why.",
        }
    ]
    content["resonance"] = [
        {"group": "progressive-left", "score": 7.5, "reasons": ["Too strong a score, clamped"]},
        {"group": "no-such-group", "score": 0.9, "reasons": ["dropped"]},
    ]
    content["cited_chunk_ids"] = [to_global_id("KnowledgeChunk", uuid.uuid4())]  # not retrieved: dropped
    fake_openai.embeddings(EmbeddingReply([[0.6, 0.8, 0.0, 0.0]]))
    fake_openai.chat(Reply(content))
    await drain(_remote(settings, fake_openai))

    done = await _analysis(gql, message.version, campaign.manager.token)
    assert done["status"] == "SUCCEEDED"
    assert done["model"].endswith("/fake-model-1")
    assert (done["riskLevel"], done["issueCount"]) == ("MEDIUM", 1)  # from the model's findings
    scores = {r["group"]: r["score"] for r in done["resonance"]}
    assert set(scores) == {g.key for g in analysis_rules.TYPOLOGY}
    assert scores["progressive-left"] == 1.0
    assert done["citations"] == []
    (request,) = fake_openai.received("/chat/completions")
    sent = request.body["messages"][1]["content"]
    assert "Riverside families deserve lower rent." in sent
    assert '"knowledge"' in sent
    assert request.body["response_format"]["json_schema"]["name"] == "AnalysisOutput"


async def test_a_failing_provider_is_retried_then_the_analysis_fails_with_the_error(
    gql: GraphQLClient, akashic_factory: AkashicFactory, settings: Settings, fake_openai: FakeOpenAI
) -> None:
    await drain(worker_settings(settings))  # no other job left to take the fake's scripted answers
    campaign = await akashic_factory.campaign()
    message = await akashic_factory.message(campaign, body="Vote for clean water on Tuesday.")
    requested = await _request(gql, message.version, campaign.manager.token)
    for _ in range(2):  # two attempts (JOB_MAX_RETRIES=1), each failing with a 500
        fake_openai.embeddings(EmbeddingReply([[0.6, 0.8, 0.0, 0.0]]))
        fake_openai.chat(Fail(500))
    await drain(_remote(settings, fake_openai, job_max_retries=1))

    failed = await _analysis(gql, message.version, campaign.manager.token)
    assert failed["status"] == "FAILED"
    assert failed["error"].startswith("AI_SERVER_ERROR")
    assert failed["findings"] is None
    assert failed["riskLevel"] is None
    assert len(fake_openai.received("/chat/completions")) == 2
    job = "query($id: ID!) { node(id: $id) { ... on BackgroundJob { status attempts error { code } } } }"
    state = (await gql(job, {"id": requested["job"]["id"]}, token=campaign.manager.token)).data["node"]
    assert state == {"status": "FAILED", "attempts": 2, "error": {"code": "AI_SERVER_ERROR"}}


async def test_a_rejected_key_is_not_retried(
    gql: GraphQLClient, akashic_factory: AkashicFactory, settings: Settings, fake_openai: FakeOpenAI
) -> None:
    await drain(worker_settings(settings))  # no other job left to take the fake's scripted answers
    campaign = await akashic_factory.campaign()
    message = await akashic_factory.message(campaign, body="Vote for clean water on Tuesday.")
    await _request(gql, message.version, campaign.manager.token)
    fake_openai.embeddings(EmbeddingReply([[0.6, 0.8, 0.0, 0.0]]))
    fake_openai.chat(Fail(401, message="bad key"))
    await drain(_remote(settings, fake_openai, job_max_retries=2))
    failed = await _analysis(gql, message.version, campaign.manager.token)
    assert failed["status"] == "FAILED"
    assert failed["error"].startswith("AI_REJECTED")
    assert len(fake_openai.received("/chat/completions")) == 1


# -------------------------------------------------------------------------------- live


@pytest.fixture(scope="module")
async def server(app: Starlette) -> AsyncIterator[LiveServer]:
    async with serve(app) as live:
        yield live


JOB_UPDATES = """subscription($id: ID) { backgroundJobUpdates(id: $id) { __typename
  ... on LiveUpdatesStatus { state }
  ... on BackgroundJob { id status progress progressMessage isFinished result } } }"""
CHANGES = """subscription($id: ID!) { campaignMessageChanges(campaignId: $id) { __typename
  ... on LiveUpdatesStatus { state }
  ... on CampaignMessageChange { change version { id analysis { status riskLevel } } } } }"""


async def test_progress_arrives_on_the_job_subscription_and_the_change_on_the_campaigns(
    server: LiveServer, gql: GraphQLClient, akashic_factory: AkashicFactory, settings: Settings
) -> None:
    campaign = await akashic_factory.campaign()
    volunteer, _ = await akashic_factory.staff(campaign, "volunteer")
    message: MessageRef = await akashic_factory.message(campaign, body=ATTACK, channel="SMS")
    manager = campaign.manager
    async with ws_session(server.ws, manager.token) as mine, ws_session(server.ws, volunteer.token) as theirs:
        jobs_feed = Feed(mine, JOB_UPDATES)
        changes = Feed(theirs, CHANGES, {"id": campaign.id})
        assert (await jobs_feed.next())["backgroundJobUpdates"]["state"] == "STARTED"
        assert (await changes.next())["campaignMessageChanges"]["state"] == "STARTED"

        requested = await _request(gql, message.version, manager.token)
        job_id = requested["job"]["id"]
        assert (await jobs_feed.next())["backgroundJobUpdates"]["status"] == "QUEUED"
        queued = (await changes.next())["campaignMessageChanges"]
        assert queued["change"] == "ANALYSIS_CHANGED"
        assert queued["version"] == {"id": message.version, "analysis": {"status": "QUEUED", "riskLevel": None}}

        await drain(worker_settings(settings))
        updates: list[dict[str, Any]] = []
        while not updates or not updates[-1]["isFinished"]:
            updates.append((await jobs_feed.next())["backgroundJobUpdates"])
        assert {u["id"] for u in updates} == {job_id}
        assert next(u["status"] for u in updates) == "RUNNING"
        assert updates[-1]["status"] == "SUCCEEDED"
        progress = [u["progress"] for u in updates]
        assert progress == sorted(progress)
        assert progress[-1] == 1.0
        messages = [u["progressMessage"] for u in updates]
        assert "Searching the knowledge base" in messages
        assert updates[-1]["result"]["riskLevel"] == "high"

        # the volunteer (who may read analyses) saw it start and finish on the campaign's changes
        seen = [(await changes.next())["campaignMessageChanges"] for _ in range(2)]
        assert [c["change"] for c in seen] == ["ANALYSIS_CHANGED", "ANALYSIS_CHANGED"]
        assert seen[-1]["version"]["analysis"] == {"status": "SUCCEEDED", "riskLevel": "HIGH"}
        for feed in (jobs_feed, changes):
            await feed.close()


async def test_an_analysis_whose_job_is_lost_for_good_fails_and_runs_again(
    gql: GraphQLClient, akashic_factory: AkashicFactory, engine: AsyncEngine, settings: Settings
) -> None:
    campaign = await akashic_factory.campaign()
    organizer, _ = await akashic_factory.staff(campaign, "field_organizer")
    message = await akashic_factory.message(campaign, body=ATTACK, channel="SOCIAL_POST")
    requested = await _request(gql, message.version, organizer.token)
    analysis_pk = from_global_id(requested["analysis"]["id"])[1]
    # Given the organizer's job running its last attempt, and the analysis running
    async with engine.begin() as conn:
        job = (
            await conn.execute(
                sa.text(
                    "SELECT j.id, j.queue_job_id, j.max_attempts FROM background_jobs j"
                    " JOIN message_analyses a ON a.job_id = j.id WHERE a.id = :a"
                ),
                {"a": analysis_pk},
            )
        ).one()
        await conn.execute(
            sa.text("UPDATE background_jobs SET status = 'running', attempts = :n WHERE id = :id"),
            {"n": job.max_attempts, "id": job.id},
        )
        await conn.execute(sa.text("UPDATE message_analyses SET status = 'running' WHERE id = :a"), {"a": analysis_pk})
    # When its worker is found dead with no retry left (the worker's recovery reports it)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    lost = await jobs.mark_interrupted(
        sessions, queue_job_id=job.queue_job_id, lost_attempt=job.max_attempts, requeued=False
    )
    # Then the job failed and so did its analysis, in the same transaction: never left running
    assert lost is not None
    assert lost.status == "failed"
    failed = await _analysis(gql, message.version, campaign.manager.token)
    assert failed["status"] == "FAILED"
    assert failed["error"].startswith("WORKER_LOST")
    # And another member (who can't see the organizer's job) runs it again, to the end
    again = await _request(gql, message.version, campaign.manager.token)
    assert again["errors"] == []
    assert again["job"] is not None
    assert again["analysis"]["status"] == "QUEUED"
    await drain(worker_settings(settings))
    assert (await _analysis(gql, message.version, campaign.manager.token))["status"] == "SUCCEEDED"
