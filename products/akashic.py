"""Akashic, the political campaign console (see `services/akashic`): its kind of organization,
`campaign`, with the staff roles; its types, root parts and jobs join here as they are built."""

from __future__ import annotations

from datetime import datetime

from core.products import PeriodicTask, Product

# --- knowledge base (h-kb): search, documents, re-embedding on a provider change
from resolvers.akashic_knowledge import KnowledgeMutation, KnowledgeQuery
from schema.akashic_knowledge import KnowledgeDocument, KnowledgeSearchHit
from services.akashic import CAMPAIGN, knowledge
from services.jobs import JobRuntime


async def reembed_knowledge(runtime: JobRuntime, at: datetime) -> int:
    """Embed again the knowledge chunks that another model made (KNOWLEDGE_REEMBED_SCHEDULE)."""
    return await knowledge.reembed_stale_chunks(runtime.sessions, runtime.ai)


KNOWLEDGE_PERIODIC = PeriodicTask(
    knowledge.REEMBED_TASK, reembed_knowledge, lambda settings: settings.knowledge_reembed_schedule or None
)
# --- end of knowledge base

AKASHIC = Product(
    name="akashic",
    organization_kinds=(CAMPAIGN,),
    query=KnowledgeQuery,  # knowledge base (h-kb)
    mutation=KnowledgeMutation,  # knowledge base (h-kb)
    types=(KnowledgeDocument, KnowledgeSearchHit),  # knowledge base (h-kb)
    periodic=(KNOWLEDGE_PERIODIC,),  # knowledge base (h-kb)
)
