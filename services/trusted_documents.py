"""The trusted-document registry: manifests in, documents checked and stored, usage kept, and what
a schema change would break.

Manifests in the formats clients' tooling writes:
- GraphQL Code Generator's client preset, `persisted-documents.json`: `{"<hash>": "<text>"}`, the
  hash the hex SHA-1 (its default) or SHA-256 (`hashAlgorithm: 'sha256'`) of the text;
- Relay's persisted queries (`persistConfig`): `{"<id>": "<text>"}`, the id an MD5 by default;
- the appendix's own `sha256:<hex>` keys, and Apollo's persisted query manifest
  (`{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body", ...}]}`).
A key that claims to be a SHA-256 (`sha256:<hex>`, or 64 hex digits) must be the text's; a
bare 64-digit key is stored as `sha256:<hex>`, so that `documentId: "sha256:…"`, the bare hash and
Apollo's `sha256Hash` all find it.

A document is checked as a request's document would be (`core.documents.DocumentRules`); one that
fails is refused with its id and graphql-core's errors, and then nothing of the manifest is stored.
An id already registered with the same text is left as it is; with another text it is refused.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from graphql import DocumentNode, GraphQLError, GraphQLSchema, build_schema, find_breaking_changes, parse, validate
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core import access
from core.context import Actor
from core.documents import (
    SHA256_PREFIX,
    DocumentRules,
    StoredDocument,
    Usage,
    breaking_coordinates,
    coordinates_used,
    document_id_problem,
    operations_of,
    p95_ms,
    sha256_id,
)
from core.errors import DomainError, NotFound, ValidationFailed
from core.rls import acting_as_system
from models.api_clients import ApiClient
from models.trusted_documents import SchemaVersion, TrustedDocument

APOLLO_MANIFEST = "apollo-persisted-query-manifest"


class ManifestRefused(ValidationFailed):
    """A manifest, or one of its documents, can't be registered; `problems` names each."""

    def __init__(self, message: str, problems: Sequence[Problem]) -> None:
        detail = "; ".join(
            f"{p.document_id}: {p.message}" + (f" ({'; '.join(p.errors)})" if p.errors else "") for p in problems[:20]
        )
        super().__init__(f"{message}: {detail}" if detail else message, field=["input", "manifest"])
        self.problems = list(problems)


@dataclass(frozen=True)
class Problem:
    document_id: str
    message: str
    #: graphql-core's errors, as their messages (with locations).
    errors: tuple[str, ...] = ()


@dataclass
class Registered:
    """What a registration did: the ids added and those already registered with the same text."""

    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def sdl_hash(sdl: str) -> str:
    return hashlib.sha256(sdl.encode()).hexdigest()


def parse_manifest(data: Any) -> list[tuple[str, str]]:
    """The (canonical id, text) pairs of a manifest's JSON (text or already decoded)."""
    if isinstance(data, (str, bytes)):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise ManifestRefused(f"The manifest is not valid JSON ({error})", []) from error
    if not isinstance(data, dict):
        raise ManifestRefused("A manifest is a JSON object of document ids to texts", [])
    if data.get("format") == APOLLO_MANIFEST:
        operations = data.get("operations")
        if not isinstance(operations, list):
            raise ManifestRefused("An Apollo manifest has a list of `operations`", [])
        pairs = [(o.get("id"), o.get("body")) for o in operations if isinstance(o, dict)]
        if len(pairs) != len(operations):
            raise ManifestRefused("Each operation of an Apollo manifest is an object with `id` and `body`", [])
    else:
        pairs = list(data.items())
    problems: list[Problem] = []
    entries: dict[str, str] = {}
    for key, text in pairs:
        if not isinstance(key, str) or not isinstance(text, str) or not text.strip():
            problems.append(Problem(str(key), "each id must name a non-empty document text"))
            continue
        if "\x00" in text:
            problems.append(Problem(key, "a document must not contain the NUL character"))
            continue
        problem = document_id_problem(key)
        if problem is not None:
            problems.append(Problem(key, problem))
            continue
        canonical = _canonical(key, text)
        if canonical is None:
            problems.append(Problem(key, f"the id is not the SHA-256 of its text ({sha256_id(text)})"))
            continue
        if entries.get(canonical, text) != text:
            problems.append(Problem(key, "the manifest gives this id two different texts"))
            continue
        entries[canonical] = text
    if problems:
        raise ManifestRefused("The manifest was refused", problems)
    if not entries:
        raise ManifestRefused("The manifest holds no document", [])
    return list(entries.items())


def _canonical(key: str, text: str) -> str | None:
    """The id to store under: `sha256:<hex>` for a SHA-256 key (None if it isn't the text's)."""
    digest = sha256_id(text)
    if key.startswith(SHA256_PREFIX):
        return key if key == digest else None
    if len(key) == 64 and all(c in "0123456789abcdef" for c in key):
        return digest if SHA256_PREFIX + key == digest else None
    return key


def check_entries(rules: DocumentRules, entries: Sequence[tuple[str, str]]) -> list[Problem]:
    problems: list[Problem] = []
    for document_id, text in entries:
        document, errors = rules.check(text)
        if errors:
            problems.append(
                Problem(document_id, "the document does not validate", tuple(_formatted(e) for e in errors))
            )
        elif document is not None and not operations_of(document):
            problems.append(Problem(document_id, "the document holds no operation"))
    return problems


def _formatted(error: GraphQLError) -> str:
    where = ", ".join(f"{loc.line}:{loc.column}" for loc in error.locations or ())
    return f"{error.message} ({where})" if where else error.message


async def _schema_version(session: AsyncSession, sdl: str) -> str:
    digest = sdl_hash(sdl)
    await session.execute(
        pg_insert(SchemaVersion).values(sdl_hash=digest, sdl=sdl).on_conflict_do_nothing(index_elements=["sdl_hash"])
    )
    return digest


async def register_documents(
    session: AsyncSession,
    *,
    rules: DocumentRules,
    sdl: str,
    client: ApiClient | None,
    manifest: Any,
) -> Registered:
    """Check every document of `manifest` and store the new ones for `client` (None: first-party),
    in the caller's transaction; `ManifestRefused` (nothing stored) when any is invalid or changes
    the text of an id already registered."""
    entries = parse_manifest(manifest)
    problems = check_entries(rules, entries)
    client_id = client.id if client is not None else None
    t = TrustedDocument.__table__  # type: ignore[attr-defined]
    owner = t.c.api_client_id == client_id if client_id is not None else t.c.api_client_id.is_(None)
    rows = await session.execute(
        sa.select(t.c.document_id, t.c.body).where(owner, t.c.document_id.in_([i for i, _ in entries]))
    )
    known = {row.document_id: row.body for row in rows}
    result = Registered()
    for document_id, text in entries:
        if document_id in known:
            if known[document_id] == text:
                result.unchanged.append(document_id)
            else:
                problems.append(Problem(document_id, "this id is registered already with another text"))
        else:
            result.added.append(document_id)
    if problems:
        raise ManifestRefused("The manifest was refused (nothing was registered)", problems)
    if result.added:
        digest = await _schema_version(session, sdl)
        texts = dict(entries)
        for document_id in result.added:
            operations = operations_of(parse(texts[document_id], no_location=True))
            session.add(
                TrustedDocument(
                    api_client_id=client_id,
                    organization_id=client.organization_id if client is not None else None,
                    document_id=document_id,
                    body=texts[document_id],
                    operation_names=[name or "" for name in operations],
                    sdl_hash=digest,
                )
            )
        await session.flush()
    return result


@access.requires(access.MANAGE_CLIENTS, organization="client_id", field="clientId", via=ApiClient, noun="API client")
async def register_client_documents(
    session: AsyncSession,
    *,
    actor: Actor,
    client_id: uuid.UUID,
    rules: DocumentRules,
    sdl: str,
    manifest: Any,
    authorized: access.Authorized | None = None,
) -> tuple[Registered, list[StoredDocument]]:
    """`registerTrustedDocuments`: an API client's manifest, by an admin of its organization."""
    client = await session.get(ApiClient, client_id)
    if client is None or client.revoked_at is not None:
        raise NotFound("No API client with this `clientId`", field=["input", "clientId"])
    registered = await register_documents(session, rules=rules, sdl=sdl, client=client, manifest=manifest)
    stored = await stored_documents(session, client.id, registered.added)
    return registered, stored


async def stored_documents(
    session: AsyncSession, client_id: uuid.UUID | None, ids: Sequence[str]
) -> list[StoredDocument]:
    t = TrustedDocument.__table__  # type: ignore[attr-defined]
    owner = t.c.api_client_id == client_id if client_id is not None else t.c.api_client_id.is_(None)
    rows = await session.execute(sa.select(t).where(owner, t.c.document_id.in_(list(ids))))
    return [StoredDocument(r.id, r.api_client_id, r.document_id, r.body) for r in rows]


def loader(engine: AsyncEngine) -> Any:
    """`core.documents.Load` over the database: a registered document by (client, id), read as
    the system (the registry is the server's configuration; who may run which is
    `core.documents.resolve_document`'s rule: a client its own, users the first-party ones)."""
    t = TrustedDocument.__table__  # type: ignore[attr-defined]
    by_client = sa.select(t.c.id, t.c.api_client_id, t.c.document_id, t.c.body).where(
        t.c.api_client_id == sa.bindparam("client", type_=sa.Uuid()), t.c.document_id == sa.bindparam("document")
    )
    first_party = sa.select(t.c.id, t.c.api_client_id, t.c.document_id, t.c.body).where(
        t.c.api_client_id.is_(None), t.c.document_id == sa.bindparam("document")
    )

    async def load(client_id: uuid.UUID | None, document_id: str) -> StoredDocument | None:
        statement = by_client if client_id is not None else first_party
        values: dict[str, Any] = {"document": document_id}
        if client_id is not None:
            values["client"] = client_id
        with acting_as_system():
            async with engine.connect() as connection:
                row = (await connection.execute(statement, values)).first()
        return StoredDocument(row.id, row.api_client_id, row.document_id, row.body) if row is not None else None

    return load


def usage_flusher(engine: AsyncEngine) -> Any:
    """`core.documents.Flush`: add a batch of usage to the documents' counters, in one statement."""

    async def flush(batch: Mapping[uuid.UUID, Usage]) -> None:
        t = TrustedDocument.__table__  # type: ignore[attr-defined]
        values = sa.values(
            sa.column("pk", sa.Uuid()),
            sa.column("count", sa.BigInteger()),
            sa.column("used", sa.DateTime(timezone=True)),
            sa.column("buckets", sa.ARRAY(sa.BigInteger())),
            name="batch",
        ).data([(pk, u.count, u.last_used_at, u.buckets) for pk, u in batch.items()])
        merged = sa.text(
            "(SELECT coalesce(array_agg(coalesce(old, 0) + coalesce(new, 0) ORDER BY i), '{}') "
            "FROM unnest(trusted_documents.latency_buckets, batch.buckets) WITH ORDINALITY AS b(old, new, i))"
        )
        statement = (
            sa.update(t)
            .where(t.c.id == values.c.pk)
            .values(
                use_count=t.c.use_count + values.c.count,
                last_used_at=sa.func.greatest(t.c.last_used_at, values.c.used),
                latency_buckets=merged,
            )
        )
        with acting_as_system():
            async with engine.begin() as connection:
                await connection.execute(statement)

    return flush


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class DocumentUsage:
    pk: uuid.UUID
    client_id: uuid.UUID | None
    client_name: str | None
    document_id: str
    operation_names: list[str]
    created_at: datetime
    count: int
    last_used_at: datetime | None
    p95_ms: float | None


def _usage_of(row: Any) -> DocumentUsage:
    return DocumentUsage(
        row.id,
        row.api_client_id,
        row.client_name,
        row.document_id,
        list(row.operation_names),
        row.created_at,
        row.use_count,
        row.last_used_at,
        p95_ms(list(row.latency_buckets)),
    )


def _usage_statement() -> Any:
    t = TrustedDocument.__table__  # type: ignore[attr-defined]
    c = ApiClient.__table__  # type: ignore[attr-defined]
    return (
        sa.select(t, c.c.name.label("client_name"))
        .select_from(t.outerjoin(c, c.c.id == t.c.api_client_id))
        .order_by(c.c.name.nulls_first(), t.c.document_id)
    )


async def all_usage(session: AsyncSession) -> list[tuple[DocumentUsage, str, str]]:
    """Every registered document's usage, with its text and its registration's SDL hash (the CLI)."""
    rows = (await session.execute(_usage_statement())).all()
    return [(_usage_of(row), row.body, row.sdl_hash) for row in rows]


async def client_usage(session: AsyncSession, *, actor: Actor, client_id: uuid.UUID) -> list[DocumentUsage]:
    """An API client's documents and their usage, as `actor` may read them (its read policy)."""
    t = TrustedDocument.__table__  # type: ignore[attr-defined]
    statement = _usage_statement().where(t.c.api_client_id == client_id, access.readable(t, actor))
    return [_usage_of(row) for row in (await session.execute(statement)).all()]


async def document_texts(session: AsyncSession, pks: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    t = TrustedDocument.__table__  # type: ignore[attr-defined]
    rows = await session.execute(sa.select(t.c.id, t.c.body).where(t.c.id.in_(list(pks))))
    return {row.id: row.body for row in rows}


def documents_using(schema: GraphQLSchema, texts: Mapping[uuid.UUID, str], coordinate: str) -> set[uuid.UUID]:
    """The documents (by row) that use a schema coordinate (`Type.field`, a type's name)."""
    found: set[uuid.UUID] = set()
    for pk, text in texts.items():
        try:
            document = parse(text, no_location=True)
        except GraphQLError:
            continue
        if coordinate in coordinates_used(schema, document):
            found.add(pk)
    return found


# ----------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class Broken:
    """A registered document the current schema would break, and why."""

    client_name: str | None
    document_id: str
    reasons: tuple[str, ...]


def broken_documents(
    current: GraphQLSchema,
    documents: Sequence[tuple[str | None, str, str, str]],
    registered_sdls: Mapping[str, str],
) -> list[Broken]:
    """Of `documents` ((client name, id, text, SDL hash at registration)), those `current` breaks:
    validation errors against it, and the breaking changes since their registration's SDL
    (`find_breaking_changes`) at a coordinate the document uses."""
    changes_by_sdl: dict[str, list[tuple[str, set[str]]]] = {}
    old_schemas: dict[str, GraphQLSchema] = {}
    for digest, sdl in registered_sdls.items():
        old: GraphQLSchema = build_schema(sdl)
        old_schemas[digest] = old
        changes_by_sdl[digest] = [
            (change.description, breaking_coordinates(change.description))
            for change in find_breaking_changes(old, current)
        ]
    broken: list[Broken] = []
    for client_name, document_id, text, digest in documents:
        reasons: list[str] = []
        document: DocumentNode = parse(text)
        reasons.extend(f"invalid now: {_formatted(e)}" for e in validate(current, document))
        previous = old_schemas.get(digest)
        if previous is not None:
            used = coordinates_used(previous, document)
            for description, coordinates in changes_by_sdl[digest]:
                if coordinates & used:
                    reasons.append(f"breaking change: {description}")
        if reasons:
            broken.append(Broken(client_name, document_id, tuple(dict.fromkeys(reasons))))
    return broken


async def registered_for_check(session: AsyncSession) -> tuple[list[tuple[str | None, str, str, str]], dict[str, str]]:
    usage = await all_usage(session)
    documents = [(u.client_name, u.document_id, body, digest) for u, body, digest in usage]
    digests = {digest for *_, digest in documents}
    sdls: dict[str, str] = {}
    if digests:
        v = SchemaVersion.__table__  # type: ignore[attr-defined]
        rows = await session.execute(sa.select(v.c.sdl_hash, v.c.sdl).where(v.c.sdl_hash.in_(digests)))
        sdls = {row.sdl_hash: row.sdl for row in rows}
    return documents, sdls


def reject(message: str) -> DomainError:
    return ValidationFailed(message, field=["input"])
