"""Trusted documents (a platform part): registering an API client's manifest and reading its
documents' usage; the request path is core/documents.py."""

from __future__ import annotations

from core.products import Product
from resolvers.trusted_documents import TrustedDocumentMutation, TrustedDocumentQuery
from schema.trusted_documents import TrustedDocumentUsage

TRUSTED_DOCUMENTS = Product(
    name="trusted_documents",
    query=TrustedDocumentQuery,
    mutation=TrustedDocumentMutation,
    types=(TrustedDocumentUsage,),
)
