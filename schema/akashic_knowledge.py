"""Akashic's knowledge base in the graph: the hybrid search's hits, documents, and the inputs and
payloads of adding and removing a campaign's documents (`resolvers/akashic_knowledge.py`)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from core.sqljson import python_only_type
from schema.common import MutationError

ERRORS = "Why nothing was done (empty otherwise)."


@python_only_type(why="A document as a write returns it; documents are read through `knowledgeSearch`.")
@strawberry.type(description="A document of a campaign's knowledge base, or of the shared starter corpus.")
class KnowledgeDocument:
    id: strawberry.ID = strawberry.field(description="Global ID (pass it to `removeKnowledgeDocument`).")
    title: str = strawberry.field(description="Its title.")
    source: str = strawberry.field(description="Where its text comes from (a citation, a URL).")
    shared: bool = strawberry.field(
        description="True for the shared starter corpus (every campaign reads it), false for a campaign's own."
    )
    chunk_count: int = strawberry.field(description="How many chunks it was cut into for the search.")
    characters: int = strawberry.field(description="Length of its text.")
    created_at: datetime = strawberry.field(description="When it was added.")


@python_only_type(why="Computed by the hybrid search's one statement (services.akashic.knowledge), not a table read.")
@strawberry.type(description="One hit of `knowledgeSearch`: a chunk of a document, with its score and ranks.")
class KnowledgeSearchHit:
    chunk_id: strawberry.ID = strawberry.field(description="The chunk's ID (what an analysis cites).")
    text: str = strawberry.field(description="The chunk's text.")
    position: int = strawberry.field(description="The chunk's place in its document, from 0.")
    document_id: strawberry.ID = strawberry.field(description="Its document's ID.")
    title: str = strawberry.field(description="Its document's title.")
    source: str = strawberry.field(description="Its document's source.")
    shared: bool = strawberry.field(description="True when it comes from the shared starter corpus.")
    score: float = strawberry.field(
        description="Reciprocal rank fusion score: the sum over both sides of 1 / (60 + rank); higher is better."
    )
    semantic_rank: int | None = strawberry.field(
        description="Its rank by meaning (embedding similarity), from 1; null when not among that side's candidates."
    )
    lexical_rank: int | None = strawberry.field(
        description="Its rank by words (Postgres full text), from 1; null when the words did not match it."
    )
    similarity: float | None = strawberry.field(description="Cosine similarity to the query (null as semanticRank).")


@strawberry.input(description="A document to add to a campaign's knowledge base.")
class AddKnowledgeDocumentInput:
    campaign_id: strawberry.ID = strawberry.field(description="The campaign (its Organization ID).")
    title: str = strawberry.field(description="Title, 1 to 200 characters.")
    source: str = strawberry.field(description="Where the text comes from, 1 to 500 characters.")
    text: str = strawberry.field(description="The text, 1 to 100,000 characters; chunked and embedded at once.")


@strawberry.input(description="A campaign's document to remove.")
class RemoveKnowledgeDocumentInput:
    id: strawberry.ID = strawberry.field(description="The document.")


@strawberry.type(description="Result of `addKnowledgeDocument`.")
class AddKnowledgeDocumentPayload:
    document: KnowledgeDocument | None = strawberry.field(description="The document, searchable at once.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)


@strawberry.type(description="Result of `removeKnowledgeDocument`.")
class RemoveKnowledgeDocumentPayload:
    removed_document_id: strawberry.ID | None = strawberry.field(description="The document removed, with its chunks.")
    errors: list[MutationError] = strawberry.field(description=ERRORS)
