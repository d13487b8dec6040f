"""The audit trail (a platform part): `AuditEvent` nodes and `viewer.auditTrail`.

Its events are written by every other part's mutations (services/audit.py); it has no mutation.
"""

from __future__ import annotations

from core.products import Product
from schema import kit
from schema.audit import AuditEvent, AuditViewerFields

TYPES = (AuditEvent,)

AUDIT = Product(
    name="audit",
    viewer=AuditViewerFields,
    types=TYPES,
    node_types=kit.node_types(TYPES),
    test_world="tests.audit.world:AUDIT_WORLD",
)
