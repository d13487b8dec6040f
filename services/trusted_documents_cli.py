"""`app.py documents push|check|usage`: the trusted-document registry from the command line.

Runs as the tables' owner (DATABASE_URL, or DATABASE_DIRECT_URL), like the migrations: the
registry is the server's configuration, and first-party documents belong to no organization.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import sqlalchemy as sa
from graphql import build_schema as build_sdl_schema
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from core.settings import Settings
from models.api_clients import ApiClient
from models.organizations import Organization
from services.trusted_documents import (
    ManifestRefused,
    all_usage,
    broken_documents,
    documents_using,
    register_documents,
    registered_for_check,
)


def _read(path: str) -> str:
    return Path(path).read_text()


def say(line: str, *, error: bool = False) -> None:
    (sys.stderr if error else sys.stdout).write(line + "\n")


async def run_documents_command(args: argparse.Namespace, settings: Settings, url: str) -> int:
    engine = create_async_engine(url)
    try:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session:
            if args.action == "push":
                return await _push(session, args, settings)
            if args.action == "check":
                return await _check(session, args)
            return await _usage(session, args)
    finally:
        await engine.dispose()


def _app_schema(settings: Settings):  # type: ignore[no-untyped-def]
    from schema import build_schema

    return build_schema(settings)


async def _find_client(session: AsyncSession, name: str, organization: str | None) -> ApiClient | None:
    c = ApiClient.__table__  # type: ignore[attr-defined]
    o = Organization.__table__  # type: ignore[attr-defined]
    statement = sa.select(c.c.id).select_from(c.join(o, o.c.id == c.c.organization_id)).where(c.c.name == name)
    if organization is not None:
        statement = statement.where(o.c.slug == organization)
    ids = list((await session.execute(statement)).scalars())
    if len(ids) > 1:
        say(f"error: several API clients are named {name!r}: give --organization SLUG", error=True)
        raise SystemExit(2)
    return await session.get(ApiClient, ids[0]) if ids else None


async def _push(session: AsyncSession, args: argparse.Namespace, settings: Settings) -> int:
    text = sys.stdin.read() if args.file == "-" else _read(args.file)
    client = None
    if args.client is not None:
        client = await _find_client(session, args.client, args.organization)
        if client is None or client.revoked_at is not None:
            say(f"error: no API client named {args.client!r}", error=True)
            return 2
    schema = _app_schema(settings)
    assert schema.document_rules is not None
    try:
        async with session.begin():
            registered = await register_documents(
                session, rules=schema.document_rules, sdl=schema.as_str() + "\n", client=client, manifest=text
            )
    except ManifestRefused as refused:
        say(f"error: {refused.message.split(':', 1)[0]}", error=True)
        for problem in refused.problems:
            say(f"  {problem.document_id}: {problem.message}", error=True)
            for error in problem.errors:
                say(f"    {error}", error=True)
        return 1
    whose = f"API client {client.name}" if client is not None else "first-party"
    say(f"{len(registered.added)} added, {len(registered.unchanged)} unchanged ({whose})")
    for document_id in registered.added:
        say(f"  + {document_id}")
    return 0


async def _check(session: AsyncSession, args: argparse.Namespace) -> int:
    if args.schema:
        current = build_sdl_schema(_read(args.schema))
    else:
        from schema import printable_schema

        current = build_sdl_schema(printable_schema())
    documents, sdls = await registered_for_check(session)
    broken = broken_documents(current, documents, sdls)
    if not broken:
        say(f"{len(documents)} registered documents: none would break")
        return 0
    say(f"{len(broken)} of {len(documents)} registered documents would break:")
    for item in broken:
        say(f"  {item.client_name or '(first-party)'} {item.document_id}")
        for reason in item.reasons:
            say(f"    {reason}")
    return 1


async def _usage(session: AsyncSession, args: argparse.Namespace) -> int:
    rows = await all_usage(session)
    if args.client is not None:
        rows = [row for row in rows if row[0].client_name == args.client]
    if args.field is not None:
        from schema import printable_schema

        current = build_sdl_schema(printable_schema())
        using = documents_using(current, {u.pk: body for u, body, _ in rows}, args.field)
        rows = [row for row in rows if row[0].pk in using]
    say("client\tdocument\toperations\tcount\tlast used\tp95 ms")
    for usage, _, _ in rows:
        say(
            "\t".join(
                [
                    usage.client_name or "(first-party)",
                    usage.document_id,
                    ",".join(name or "(anonymous)" for name in usage.operation_names),
                    str(usage.count),
                    usage.last_used_at.isoformat() if usage.last_used_at else "never",
                    f"{usage.p95_ms:g}" if usage.p95_ms is not None else "-",
                ]
            )
        )
    return 0
