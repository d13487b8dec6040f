"""Trusted documents in the graph: `registerTrustedDocuments` and `apiClientDocuments` (an API
client's documents with their usage), for the admins of the client's organization."""

from __future__ import annotations

from datetime import datetime

import strawberry

from core.sqljson import python_only_type
from schema.common import MutationError


@strawberry.input(description="A manifest of an API client's trusted documents.")
class RegisterTrustedDocumentsInput:
    client_id: strawberry.ID = strawberry.field(description="The API client.")
    manifest: str = strawberry.field(
        description="The manifest's JSON text: GraphQL Code Generator's `persisted-documents.json`, Relay's "
        "persisted queries, `sha256:<hex>` keys, or Apollo's persisted query manifest."
    )


@python_only_type(
    why="A registered document's row and its usage, flushed by the servers (services/trusted_documents.py)."
)
@strawberry.type(description="A trusted document of an API client, and how much it is used.")
class TrustedDocumentUsage:
    document_id: str = strawberry.field(description="Its id, as requests name it (`documentId`).")
    operation_names: list[str] = strawberry.field(description="Its operations' names (anonymous: empty).")
    registered_at: datetime = strawberry.field(description="When it was registered.")
    request_count: float = strawberry.field(
        description="Requests that ran it, as the servers last flushed them "
        "(a Float: a count may outgrow Int's 32 bits)."
    )
    last_used_at: datetime | None = strawberry.field(description="Its last request, if any.")
    p95_milliseconds: float | None = strawberry.field(
        description="The 95th percentile of its latency (the upper bound of the bucket it falls in)."
    )


@strawberry.type(description="The result of registering a manifest; nothing is registered if any document fails.")
class RegisterTrustedDocumentsPayload:
    added: list[str] = strawberry.field(description="The ids registered now.")
    unchanged: list[str] = strawberry.field(description="The ids registered already with the same text.")
    errors: list[MutationError] = strawberry.field(
        description="Why nothing was registered: each invalid document's id and graphql-core's errors."
    )
