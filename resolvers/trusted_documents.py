"""Trusted documents: `registerTrustedDocuments` (thin: parse the id, run the guarded service in
one unit of work, warm this process's registry after commit) and `apiClientDocuments`."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import Actor
from core.documents import StoredDocument
from core.errors import ClientError, ValidationFailed
from core.relay import InvalidGlobalId, parse_global_id
from core.sqljson import python_only_type
from resolvers.support import described
from schema.common import Ctx, InputArg, mutation_errors
from schema.trusted_documents import (
    RegisterTrustedDocumentsInput,
    RegisterTrustedDocumentsPayload,
    TrustedDocumentUsage,
)
from services import trusted_documents
from services.trusted_documents import Registered

#: The global-id key of an API client (the actor's `label` is its uuid).
API_CLIENT_KEY = "ApiClient"


def _client_id(value: str) -> uuid.UUID:
    try:
        return parse_global_id(value, API_CLIENT_KEY)
    except InvalidGlobalId as exc:
        raise ValidationFailed("Not the ID of an API client", field=["input", "clientId"]) from exc


async def register_trusted_documents(
    info: Ctx, input: Annotated[RegisterTrustedDocumentsInput, InputArg]
) -> RegisterTrustedDocumentsPayload:
    schema: Any = info.schema
    rules = schema.document_rules

    async def work(session: AsyncSession, actor: Actor) -> tuple[Registered, list[StoredDocument]]:
        return await trusted_documents.register_client_documents(
            session,
            actor=actor,
            client_id=_client_id(input.client_id),
            rules=rules,
            sdl=schema.as_str() + "\n",
            manifest=input.manifest,
        )

    outcome = await info.context.actor_unit_of_work(work)
    if outcome.value is None:
        return RegisterTrustedDocumentsPayload(added=[], unchanged=[], errors=mutation_errors(outcome.errors))
    registered, stored = outcome.value
    registry = getattr(info.context.request.app.state.runtime, "documents", None)
    if registry is not None:
        for document in stored:  # committed: this process runs them from now on without parsing them
            registry.remember(document)
    return RegisterTrustedDocumentsPayload(added=registered.added, unchanged=registered.unchanged, errors=[])


async def api_client_documents(
    info: Ctx,
    client_id: Annotated[strawberry.ID, strawberry.argument(description="The API client.")],
    field: Annotated[
        str | None,
        strawberry.argument(description="Only the documents that use this schema coordinate (`Type.field`)."),
    ] = None,
) -> list[TrustedDocumentUsage]:
    actor = info.context.actor
    if actor is None:
        return []
    try:
        pk = parse_global_id(client_id, API_CLIENT_KEY)
    except InvalidGlobalId as exc:
        raise ClientError("Not the ID of an API client", "INVALID_ID") from exc
    async with info.context.sessions() as session:
        usage = await trusted_documents.client_usage(session, actor=actor, client_id=pk)
        if field is not None:
            texts = await trusted_documents.document_texts(session, [u.pk for u in usage])
            using = trusted_documents.documents_using(info.schema._schema, texts, field)
            usage = [u for u in usage if u.pk in using]
    return [
        TrustedDocumentUsage(
            document_id=u.document_id,
            operation_names=u.operation_names,
            registered_at=u.created_at,
            request_count=float(u.count),
            last_used_at=u.last_used_at,
            p95_milliseconds=u.p95_ms,
        )
        for u in usage
    ]


#: Each mutation and the service it runs (for the README's permission matrix).
SERVICES: dict[str, Callable[..., Awaitable[Any]]] = {
    "registerTrustedDocuments": trusted_documents.register_client_documents,
}


def _described(name: str, description: str) -> str:
    return described(SERVICES[name], description, where="the client's organization")


@strawberry.type(description="Trusted document mutations.")
class TrustedDocumentMutation:
    register_trusted_documents: RegisterTrustedDocumentsPayload = strawberry.mutation(
        resolver=register_trusted_documents,
        description=_described(
            "registerTrustedDocuments",
            "Register an API client's trusted documents from a manifest: each is validated against the current "
            "schema; an id already registered with the same text is left alone, with another text refused.",
        ),
    )


@python_only_type(why="The registry's rows with the usage the servers flushed (services/trusted_documents.py).")
@strawberry.type(description="Trusted document queries.")
class TrustedDocumentQuery:
    api_client_documents: list[TrustedDocumentUsage] = strawberry.field(
        resolver=api_client_documents,
        description="An API client's trusted documents with their usage (count, last use, p95), for the members "
        "whose role holds `api_clients.manage` in its organization; empty for anyone else.",
    )
