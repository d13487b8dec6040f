"""Analysis time of Akashic's message versions with the offline provider (target: under 3 s).

    uv run python -m bench.akashic_analysis [--runs 4]

Builds a fresh database (embedded Postgres, or the server in DATABASE_URL) with a campaign made
through the API, three knowledge documents of its own (beside the starter corpus every database
has) and fifteen realistic messages, three of every channel (email, SMS, social post, speech,
press release; paid and unpaid, clean and flawed), then measures, over `--runs` rounds after one
warm-up round, for every message:

* end to end: `requestMessageAnalysis` over GraphQL (in process, ASGI) until `node(id:)` shows
  the analysis SUCCEEDED, with the worker running inside the app as `serve` runs it (polled
  every 10 ms): the queue, the knowledge search, the rules, the writes;
* the analysis alone: `services.akashic.analysis.analyse` (the knowledge search and the offline
  analysis, nothing written).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app import create_app
from bench.insights import jobs_in_process_settings, summary
from bench.servers import register_user
from core.ai import OfflineProvider
from core.context import Actor
from core.db import start_embedded_postgres, to_async_url
from core.migrations import upgrade
from core.relay import from_global_id
from services.akashic import analysis
from tests.conftest import create_database, drop_database

ROOT = Path(__file__).resolve().parent.parent

CAMPAIGN = """mutation($i: CreateCampaignInput!) { createCampaign(input: $i) { campaign { id } errors { message } } }"""
DOCUMENT = """mutation($i: AddKnowledgeDocumentInput!) { addKnowledgeDocument(input: $i) { errors { message } } }"""
MESSAGE = """mutation($i: CreateMessageInput!) { createMessage(input: $i) { version { id } errors { message } } }"""
REQUEST = """mutation($i: RequestMessageAnalysisInput!) { requestMessageAnalysis(input: $i) {
  analysis { id } errors { code message } } }"""
ANALYSIS = "query($id: ID!) { node(id: $id) { ... on MessageAnalysis { status riskLevel issueCount error } } }"

DOCUMENTS = [
    (
        "Riverside field memo",
        "Canvass notes from the riverside wards: flooding buyouts, ferry schedules and the price of flood "
        "insurance come up at nearly every door. Renters worry about rent increases after the mill closed; "
        "older homeowners ask about property taxes and the senior freeze. Volunteers report that talk of the "
        "new clinic and the bus line lands well with families with young children.",
    ),
    (
        "Opposition research: votes",
        "The incumbent voted against the county broadband bond in 2023 and for the 2024 budget that cut library "
        "hours by a fifth, according to the council minutes. He missed eleven of the forty public safety committee "
        "meetings last year (committee attendance records).",
    ),
    (
        "Policy brief: childcare",
        "The campaign's childcare plan caps costs at seven percent of household income for families under twice the "
        "county's median income, funded by the state's unspent federal relief dollars, per the state budget office.",
    ),
]

MESSAGES: list[dict[str, Any]] = [
    {
        "channel": "EMAIL",
        "paid": True,
        "audienceSegments": ["Stressed Sideliners"],
        "body": "Subject: Rent, groceries and gas: our plan for the bills you pay every month\n\nFriend,\n\nEvery "
        "week I meet families in the river wards who are doing everything right and still falling behind. Rent "
        "is up, groceries cost more, and the bus line still stops short of the new clinic. Our plan caps childcare "
        "costs at seven percent of income, according to the state budget office's numbers, and freezes property "
        "taxes for seniors. Chip in $10 today so we can knock on every door before early voting starts.",
    },
    {
        "channel": "EMAIL",
        "paid": False,
        "audienceSegments": [],
        "body": "Subject: Volunteer training Saturday\n\nJoin us Saturday at 10am at the union hall for canvass "
        "training. Bring comfortable shoes; we will have coffee and maps of the riverside wards.",
    },
    {
        "channel": "EMAIL",
        "paid": True,
        "audienceSegments": ["Progressive Left", "Outsider Left"],
        "body": "Subject: THEY ARE LYING TO YOU ABOUT CLIMATE!!!\n\nThe billionaires and their corrupt puppets in "
        "Washington will DESTROY our future. We guarantee we will fight them every single day. Donate now!!!",
    },
    {
        "channel": "SMS",
        "paid": False,
        "audienceSegments": [],
        "body": "Early voting starts Monday at the library. Reply STOP to opt out.",
    },
    {
        "channel": "SMS",
        "paid": True,
        "audienceSegments": ["Democratic Mainstays"],
        "body": "Hi, it's Dana from Chen for Senate! Social security and medicare are on the ballot this year, and "
        "our opponent voted to cut 40% of the senior center budget. Can we count on your vote on November 3rd? "
        "Find your polling place at the link in our bio!",
    },
    {
        "channel": "SMS",
        "paid": False,
        "audienceSegments": [],
        "body": "🗳️ Vote Tuesday! Polls open 7am\u20138pm. Your neighbors are counting on you 💙",
    },
    {
        "channel": "SOCIAL_POST",
        "paid": False,
        "audienceSegments": ["Committed Conservatives"],
        "body": "Small businesses are the backbone of our county. Our plan cuts the red tape on new permits and "
        "lowers taxes for shops with under 20 employees. #ShopLocal",
    },
    {
        "channel": "SOCIAL_POST",
        "paid": True,
        "audienceSegments": [],
        "body": "The incumbent is the WORST council member in the state's history and everyone knows it. He is a "
        "disgrace and a crook. Enough is enough!!! Vote him out on November 3rd and send a message to the "
        "establishment that the people of this county will never again accept failed leadership, broken "
        "promises and a budget that cut library hours by a fifth while taxes went up.",
    },
    {
        "channel": "SOCIAL_POST",
        "paid": False,
        "audienceSegments": ["Faith and Flag Conservatives"],
        "body": "Honoring our veterans this Memorial Day. Faith, family and freedom are what they fought for.",
    },
    {
        "channel": "SPEECH",
        "paid": False,
        "audienceSegments": [],
        "body": "Thank you all for coming tonight. When I walk these streets I hear the same thing at every door: "
        "people want a county that works. They want a bus that gets them to work on time, a clinic they can "
        "reach, and schools that prepare their kids. That is not a partisan wish. It is common sense. Tonight I "
        "want to talk about three things we will do in our first year: fix the bus line, open the clinic six days "
        "a week, and freeze property taxes for seniors. None of it is easy, but all of it is possible if we do it "
        "together, and that starts with your vote.",
    },
    {
        "channel": "SPEECH",
        "paid": False,
        "audienceSegments": ["Establishment Liberals"],
        "body": "Democracy depends on institutions that people trust. Our plan is built on evidence: research from "
        "the state university shows that expanded early education pays back four dollars for every dollar spent. "
        "We will work across the aisle, compromise where we must, and measure what we do.",
    },
    {
        "channel": "SPEECH",
        "paid": False,
        "audienceSegments": [],
        "body": "Comprehensive intergovernmental infrastructure modernization necessitates unprecedented "
        "administrative coordination, substantial multiyear appropriations, and continuous accountability "
        "mechanisms institutionalized across jurisdictional boundaries.",
    },
    {
        "channel": "PRESS_RELEASE",
        "paid": False,
        "audienceSegments": [],
        "body": "FOR IMMEDIATE RELEASE. Chen for Senate today released a plan to cap childcare costs at seven "
        "percent of household income for families earning under twice the county median, funded by unspent "
        "federal relief dollars, according to the state budget office. The plan was endorsed by the county "
        "teachers' union and two local chambers of commerce.",
    },
    {
        "channel": "PRESS_RELEASE",
        "paid": False,
        "audienceSegments": [],
        "body": "Chen for Senate has raised $1.2 million this quarter, the largest haul of any state senate "
        "candidate ever, from 14,000 donors. We are 100% confident of victory in November.",
    },
    {
        "channel": "PRESS_RELEASE",
        "paid": True,
        "audienceSegments": ["Populist Right"],
        "body": "Chen for Senate calls on the county to end the no-bid contracts that sent 3.5 million dollars to "
        "Wall Street consultants while rural roads went unrepaired. Working families deserve a government that "
        "answers to them, not to the elites.",
    },
]


async def _gql(client: httpx.AsyncClient, headers: dict[str, str], query: str, variables: dict[str, Any]) -> Any:
    body = (await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)).json()
    assert "errors" not in body, body
    return body["data"]


async def _run(url: str, data_dir: Path, runs: int) -> dict[str, Any]:
    settings = jobs_in_process_settings(url, data_dir)
    engine = create_async_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                headers, user_id = await register_user(client, display_name="Manager")
                made = await _gql(
                    client,
                    headers,
                    CAMPAIGN,
                    {
                        "i": {
                            "name": "Chen for Senate",
                            "slug": f"chen-{secrets.token_hex(4)}",
                            "office": "State Senate, District 12",
                            "jurisdiction": "Ohio",
                            "electionDate": "2026-11-03",
                            "electionCycle": 2026,
                        }
                    },
                )
                campaign = made["createCampaign"]["campaign"]["id"]
                campaign_pk = from_global_id(campaign)[1]
                for title, text in DOCUMENTS:
                    document = {"campaignId": campaign, "title": title, "source": "campaign", "text": text}
                    await _gql(client, headers, DOCUMENT, {"i": document})
                versions = []
                for number, message in enumerate(MESSAGES):
                    created = await _gql(
                        client, headers, MESSAGE, {"i": {"campaignId": campaign, "title": f"M{number}", **message}}
                    )
                    versions.append(created["createMessage"]["version"]["id"])

                async def end_to_end(version: str) -> tuple[float, dict[str, Any]]:
                    started = time.perf_counter()
                    requested = await _gql(client, headers, REQUEST, {"i": {"versionId": version}})
                    analysis_id = requested["requestMessageAnalysis"]["analysis"]["id"]
                    while True:
                        found = (await _gql(client, headers, ANALYSIS, {"id": analysis_id}))["node"]
                        if found["status"] in {"SUCCEEDED", "FAILED"}:
                            break
                        await asyncio.sleep(0.01)
                    elapsed = time.perf_counter() - started
                    assert found["status"] == "SUCCEEDED", found
                    return elapsed, found

                actor = Actor(user_id=user_id, role="user")
                provider = OfflineProvider()

                async def alone(message: dict[str, Any]) -> float:
                    subject = analysis.Subject(
                        text=message["body"],
                        channel=message["channel"].lower(),
                        paid=message["paid"],
                        audience_segments=message["audienceSegments"],
                        committee="Chen for Senate",
                    )
                    started = time.perf_counter()
                    async with sessions() as session, session.begin():
                        await analysis.analyse(
                            session, actor=actor, provider=provider, subject=subject, campaign_id=campaign_pk
                        )
                    return time.perf_counter() - started

                risks = [(await end_to_end(version))[1]["riskLevel"] for version in versions]  # warm-up
                for message in MESSAGES:
                    await alone(message)
                e2e = [(await end_to_end(version))[0] for _ in range(runs) for version in versions]
                only = [await alone(message) for _ in range(runs) for message in MESSAGES]
                async with engine.connect() as conn:
                    # Where the end-to-end time goes: waiting in the queue, then the job's own run.
                    spans = (
                        await conn.execute(
                            sa.text(
                                "SELECT extract(epoch FROM started_at - created_at) AS waited,"
                                " extract(epoch FROM finished_at - started_at) AS ran"
                                " FROM background_jobs WHERE kind = :kind AND status = 'succeeded'"
                            ),
                            {"kind": analysis.ANALYSIS_KIND},
                        )
                    ).all()
                return {
                    "messages": len(MESSAGES),
                    "analyses": len(e2e),
                    "risk_levels": {level: risks.count(level) for level in sorted(set(risks))},
                    "end_to_end": summary(e2e),
                    "analysis_alone": summary(only),
                    "job_queued": summary([float(row.waited) for row in spans]),
                    "job_running": summary([float(row.ran) for row in spans]),
                }
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    server = to_async_url(os.environ["DATABASE_URL"]) if os.environ.get("DATABASE_URL") else None
    server = server or start_embedded_postgres(ROOT / ".data" / "bench-postgres")
    url = await create_database(server)
    try:
        upgrade(url)
        print(await _run(url, ROOT / ".data", args.runs))
    finally:
        await drop_database(server, url)


if __name__ == "__main__":
    asyncio.run(main())
