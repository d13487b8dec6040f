"""Trusted documents on the request path: a document named by its id is run from what the process
prepared once (parsed, validated, compiled), never parsed or validated per request.

The registry itself (the table, the manifests, `documents push|check|usage`) is the application's
(services/trusted_documents.py); core gets from it one function, `load(client_id, document_id)`,
and one to write usage, `flush(batch)`, so that it imports no product.

- `DocumentRules` checks a document's text as a request's would be checked (the token limit,
  the selection limits, graphql-core's and strawberry's rules, the depth and alias limits):
  at registration, and once per process when a document is first loaded.
- `DocumentRegistry` keeps, per process, the prepared documents by (client, id): the AST, the
  validation result, the operations and their compiled plans (core/fastpath.py). A document's
  text never changes under its id (a changed text is refused at registration), so the cache
  needs no invalidation.
- `resolve_document` turns a request's parameters into what runs: the text and, for a trusted
  document, its prepared form; it applies the policy (`Actor.trusted_documents_only`, and
  `USER_DOCUMENTS` for users' requests) and refuses an unknown id.
- `UsageRecorder` counts each trusted document's requests and latencies in memory; the app
  flushes them to the database periodically and at shutdown (no write per request).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
)
from graphql.validation import ASTValidationRule
from strawberry.types import ExecutionContext

from core.context import Actor, ActorKind
from core.fastpath import Plan, compile_plan
from core.limits import SelectionLimits, check_document

logger = logging.getLogger("quintet.documents")

#: The GraphQL-over-HTTP appendix's SHA-256 hex identifier.
SHA256_PREFIX = "sha256:"
_SHA256_ID = re.compile(r"^sha256:[0-9a-f]{64}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
#: A custom identifier (no colon) or an application's own `x-...:...` (the appendix's grammar).
_CUSTOM_ID = re.compile(r"^[A-Za-z0-9._~-]+$")
_X_PREFIXED_ID = re.compile(r"^x-[A-Za-z0-9._~-]+:[A-Za-z0-9._~-]+$")
MAX_DOCUMENT_ID = 200

#: Upper bounds (ms) of the latency buckets kept per document; one more bucket holds the rest.
LATENCY_BOUNDS_MS: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

#: Error codes of the request path (README "Trusted documents").
NOT_FOUND = "PERSISTED_DOCUMENT_NOT_FOUND"
REQUIRED = "PERSISTED_DOCUMENT_REQUIRED"


def sha256_id(text: str) -> str:
    return SHA256_PREFIX + hashlib.sha256(text.encode()).hexdigest()


def document_id_problem(document_id: str) -> str | None:
    """Why `document_id` is not a document identifier of the appendix's grammar, or None."""
    if not document_id or len(document_id) > MAX_DOCUMENT_ID:
        return f"a document id is 1 to {MAX_DOCUMENT_ID} characters"
    if _SHA256_ID.match(document_id) or _CUSTOM_ID.match(document_id) or _X_PREFIXED_ID.match(document_id):
        return None
    if document_id.startswith(SHA256_PREFIX):
        return "a sha256: id is `sha256:` and 64 lower-case hex digits"
    return "a document id is `sha256:<hex>`, `x-<prefix>:<id>`, or letters, digits and `-._~` only"


def canonical_id(document_id: str) -> str:
    """The id as the registry keys it: a bare 64-digit hex id (GraphQL Code Generator's with
    `hashAlgorithm: sha256`, Apollo's `sha256Hash`) is the `sha256:` id."""
    return SHA256_PREFIX + document_id if _HEX64.match(document_id) else document_id


# ----------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class DocumentRules:
    """How the server checks a document before running it (the schema's extensions, as one call)."""

    schema: GraphQLSchema
    rules: tuple[type[ASTValidationRule], ...]
    limits: SelectionLimits
    max_tokens: int
    hide_suggestions: bool

    def check(self, text: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        """The parsed document and its errors (syntax, the limits, validation); no errors: valid."""
        try:
            document = parse(text, max_tokens=self.max_tokens)
        except GraphQLError as error:
            return None, [error]
        errors = check_document(self.schema, document, self.rules, self.limits, self.hide_suggestions)
        return document, list(errors)


def operations_of(document: DocumentNode) -> dict[str | None, OperationType]:
    """The document's operations by name (None: the anonymous one)."""
    return {
        (d.name.value if d.name is not None else None): d.operation
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    }


@dataclass(frozen=True)
class StoredDocument:
    """A registered document as the registry's `load` returns it."""

    #: The registry's row id (what usage is recorded against).
    pk: uuid.UUID
    client_id: uuid.UUID | None
    document_id: str
    body: str


@dataclass
class TrustedDocument:
    """A registered document, prepared once in this process."""

    stored: StoredDocument
    document: DocumentNode | None
    #: Its errors against this process's schema and rules (none for a document that still validates).
    errors: list[GraphQLError]
    operations: dict[str | None, OperationType]
    #: Compiled plans by operation name (a query's; None where graphql-core runs it).
    plans: dict[str | None, Plan | None] = field(default_factory=dict)
    #: Whether the text names @defer or @stream (only then is a request's delivery worked out).
    may_defer: bool = False

    def __post_init__(self) -> None:
        self.may_defer = "defer" in self.stored.body or "stream" in self.stored.body

    @property
    def body(self) -> str:
        return self.stored.body

    def operation(self, operation_name: str | None) -> OperationType | None:
        """The type of the operation a request names (None: no such operation, or it must name one)."""
        if operation_name is None:
            return next(iter(self.operations.values())) if len(self.operations) == 1 else None
        return self.operations.get(operation_name)

    def plan(self, operation_name: str | None) -> Plan | None:
        key = operation_name if operation_name is not None or len(self.operations) != 1 else None
        return self.plans.get(key)


def prepare(rules: DocumentRules, stored: StoredDocument, *, compile_plans: bool) -> TrustedDocument:
    """Parse, validate and compile a registered document (once per process)."""
    document, errors = rules.check(stored.body)
    operations = operations_of(document) if document is not None else {}
    prepared = TrustedDocument(stored, document, errors, operations)
    if document is not None and not errors and compile_plans:
        for name, kind in operations.items():
            if kind is OperationType.QUERY:
                prepared.plans[name] = compile_plan(rules.schema, document, name)
        if len(operations) == 1:
            # A request may leave the only operation unnamed.
            prepared.plans[None] = prepared.plans.get(next(iter(operations)))
    if errors:
        logger.warning(
            "the trusted document %s no longer validates against this schema: %s",
            stored.document_id,
            "; ".join(e.message for e in errors),
        )
    return prepared


# ----------------------------------------------------------------------------- usage


@dataclass
class Usage:
    count: int = 0
    #: The last use, as a Unix time.
    last_used: float | None = None
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_MS) + 1))

    @property
    def last_used_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.last_used, UTC) if self.last_used is not None else None


def bucket_of(milliseconds: float) -> int:
    for index, bound in enumerate(LATENCY_BOUNDS_MS):
        if milliseconds <= bound:
            return index
    return len(LATENCY_BOUNDS_MS)


def p95_ms(buckets: list[int]) -> float | None:
    """The 95th percentile's bucket bound (ms) of a histogram; None without requests. The last
    bucket (beyond the largest bound) reads as that bound."""
    total = sum(buckets)
    if total == 0:
        return None
    wanted = 0.95 * total
    seen = 0
    for index, count in enumerate(buckets):
        seen += count
        if seen >= wanted:
            return LATENCY_BOUNDS_MS[min(index, len(LATENCY_BOUNDS_MS) - 1)]
    return LATENCY_BOUNDS_MS[-1]


Flush = Callable[[Mapping[uuid.UUID, Usage]], Awaitable[None]]


class UsageRecorder:
    """Each trusted document's requests, latencies and last use, aggregated in memory and handed
    to `flush` in one batch (the app's periodic task and its shutdown)."""

    def __init__(self, flush: Flush | None) -> None:
        self._flush = flush
        self._pending: dict[uuid.UUID, Usage] = {}
        self._lock = asyncio.Lock()

    def record(self, pk: uuid.UUID, milliseconds: float) -> None:
        usage = self._pending.get(pk)
        if usage is None:
            usage = self._pending[pk] = Usage()
        usage.count += 1
        usage.last_used = time.time()  # a datetime is made once per flush, not per request
        usage.buckets[bucket_of(milliseconds)] += 1

    @property
    def pending(self) -> Mapping[uuid.UUID, Usage]:
        return self._pending

    async def flush(self) -> int:
        """Write what was recorded since the last flush; returns how many documents. On failure
        the batch is kept (merged into what comes next) and the error logged."""
        if self._flush is None:
            return 0
        async with self._lock:
            batch, self._pending = self._pending, {}
            if not batch:
                return 0
            try:
                await self._flush(batch)
            except Exception:
                logger.exception("could not write the trusted documents' usage; kept for the next flush")
                for pk, usage in batch.items():
                    kept = self._pending.setdefault(pk, Usage())
                    kept.count += usage.count
                    kept.buckets = [a + b for a, b in zip(kept.buckets, usage.buckets, strict=True)]
                    if kept.last_used is None or (usage.last_used is not None and usage.last_used > kept.last_used):
                        kept.last_used = usage.last_used
                return 0
            return len(batch)

    async def run(self, every_seconds: float) -> None:
        """Flush every `every_seconds` until cancelled (then once more)."""
        try:
            while True:
                await asyncio.sleep(every_seconds)
                await self.flush()
        finally:
            await asyncio.shield(self.flush())


# ----------------------------------------------------------------------------- the registry


Load = Callable[[uuid.UUID | None, str], Awaitable[StoredDocument | None]]

#: How long an id the registry doesn't know is answered as unknown without asking it again: a
#: flood of unknown ids costs one look-up per id and period, and a document registered through
#: another process is found at most this long after.
MISSING_SECONDS = 5.0


class DocumentRegistry:
    """The trusted documents this process has prepared, by (client, id), least recently used out."""

    def __init__(
        self, rules: DocumentRules, load: Load, *, compile_plans: bool, usage: UsageRecorder, size: int = 4096
    ) -> None:
        self.rules = rules
        self._load = load
        self.compile_plans = compile_plans
        self.usage = usage
        self.size = size
        self._documents: OrderedDict[tuple[uuid.UUID | None, str], TrustedDocument] = OrderedDict()
        #: Ids found unknown, until when (monotonic time), least recent first.
        self._missing: OrderedDict[tuple[uuid.UUID | None, str], float] = OrderedDict()
        #: Look-ups the registry's `load` answered.
        self.loads = 0
        #: Documents prepared in this process (each parsed and validated exactly once here).
        self.prepared = 0

    def remember(self, stored: StoredDocument) -> TrustedDocument:
        """Prepare a document now (one just registered through this process), replacing none."""
        key = (stored.client_id, stored.document_id)
        known = self._documents.get(key)
        if known is not None and known.body == stored.body:
            return known
        prepared = prepare(self.rules, stored, compile_plans=self.compile_plans)
        self.prepared += 1
        self._missing.pop(key, None)
        self._documents[key] = prepared
        while len(self._documents) > self.size:
            self._documents.popitem(last=False)
        return prepared

    def cached(self, client_id: uuid.UUID | None, document_id: str) -> TrustedDocument | None:
        return self._documents.get((client_id, document_id))

    async def find(self, client_id: uuid.UUID | None, document_id: str) -> TrustedDocument | None:
        """The client's document (None: a first-party one) by its canonical id, or None."""
        key = (client_id, document_id)
        known = self._documents.get(key)
        if known is not None:
            self._documents.move_to_end(key)
            return known
        now = time.monotonic()
        until = self._missing.get(key)
        if until is not None and until > now:
            return None
        self.loads += 1
        stored = await self._load(client_id, document_id)
        if stored is None:
            self._missing[key] = now + MISSING_SECONDS
            self._missing.move_to_end(key)
            while len(self._missing) > self.size:
                self._missing.popitem(last=False)
            return None
        return self.remember(stored)


# ----------------------------------------------------------------------------- the request


@dataclass(frozen=True)
class DocumentParams:
    """How a request names its document: its text, a `documentId`, or Apollo's `sha256Hash`."""

    query: str | None
    document_id: str | None = None
    #: `extensions.persistedQuery.sha256Hash` (Apollo's persisted queries).
    sha256_hash: str | None = None


class DocumentRefused(Exception):
    """A request's document can't run: unknown id, or text where only trusted documents may run."""

    def __init__(self, status: int, message: str, code: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.details = details


@dataclass(frozen=True)
class RequestDocument:
    """What a request runs: its text, and for a trusted document what was prepared from it."""

    query: str
    trusted: TrustedDocument | None = None
    #: `text` (sent by the client), `trusted` (by id), `persisted_query` (Apollo's hash of a trusted one),
    #: `automatic` (an automatic persisted query's, core/persisted.py).
    origin: str = "text"


def client_of(actor: Actor | None) -> uuid.UUID | None:
    """Whose documents an actor runs: an API client's own (its id, the actor's label); None: the
    first-party ones, for users and anonymous requests."""
    if actor is None or actor.kind is not ActorKind.API_CLIENT or actor.label is None:
        return None
    try:
        return uuid.UUID(actor.label)
    except ValueError:
        return None


def only_trusted(actor: Actor | None, users_trusted_only: bool) -> bool:
    if actor is not None and actor.kind is ActorKind.API_CLIENT:
        return actor.trusted_documents_only
    if actor is not None and actor.trusted_documents_only:
        return True
    return users_trusted_only


async def resolve_document(
    params: DocumentParams,
    actor: Actor | None,
    registry: DocumentRegistry | None,
    *,
    users_trusted_only: bool,
    automatic: Callable[[str | None], Awaitable[str]] | None = None,
) -> RequestDocument:
    """The document a request runs, its prepared form and its origin; `DocumentRefused` when its id
    names no document this actor may run, or when its text may not run under the actor's policy.

    An API client runs its own documents; users (and anonymous requests) the first-party ones.
    A `sha256Hash` that names one of them is answered from it; any other hash is left to Apollo's
    automatic persisted queries (the slot below)."""
    client = client_of(actor)
    if params.document_id is not None:
        trusted = await registry.find(client, canonical_id(params.document_id)) if registry is not None else None
        if trusted is None:
            raise DocumentRefused(404, f"No persisted document has the id {params.document_id!r}", NOT_FOUND)
        return RequestDocument(trusted.body, trusted, "trusted")
    if params.sha256_hash is not None and registry is not None:
        trusted = await registry.find(client, SHA256_PREFIX + params.sha256_hash)
        if trusted is not None:
            if params.query is not None and params.query != trusted.body:
                raise DocumentRefused(400, "The query's text does not match its sha256Hash", "BAD_REQUEST")
            return RequestDocument(trusted.body, trusted, "persisted_query")
    trusted_only = only_trusted(actor, users_trusted_only)
    # Automatic persisted queries (APQ, `automatic`) answer any other hash: a hash alone that they
    # don't know is PERSISTED_QUERY_NOT_FOUND, a hash with its text is stored once it validates.
    # Not for an actor that may run only trusted documents: APQ would run any text it was sent.
    if params.sha256_hash is not None and automatic is not None and not trusted_only:
        return RequestDocument(await automatic(params.query), origin="automatic")
    if params.query is None:
        if trusted_only:
            raise DocumentRefused(404, "No persisted document has this sha256Hash", NOT_FOUND)
        raise DocumentRefused(
            200, "PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND", reason="no trusted document has this hash"
        )
    if trusted_only:
        raise DocumentRefused(
            400,
            "Only trusted documents may run here: send a registered document's `documentId`",
            REQUIRED,
            limit="documentPolicy",
            value="trusted",
        )
    return RequestDocument(params.query)


# ------------------------------------------------------- running a prepared document in strawberry

#: The trusted document that `execute_prepared` hands to the execution context strawberry creates.
_PREPARED: contextvars.ContextVar[TrustedDocument | None] = contextvars.ContextVar("prepared_document", default=None)


class PreparedDocuments:
    """A mixin for the strawberry schema: an execution started by `execute_prepared` begins with
    the document parsed and validated (strawberry's parse and validation steps, and the parser
    and validation caches, are skipped; the limits that depend on the variables still run)."""

    def _create_execution_context(self, *args: Any, **kwargs: Any) -> ExecutionContext:
        context: ExecutionContext = super()._create_execution_context(*args, **kwargs)  # type: ignore[misc]
        prepared = _PREPARED.get()
        if prepared is not None and prepared.document is not None and context.query == prepared.body:
            _PREPARED.set(None)
            context.graphql_document = prepared.document
            context.pre_execution_errors = list(prepared.errors)
        return context


async def execute_prepared(schema: Any, prepared: TrustedDocument, **kwargs: Any) -> Any:
    """`schema.execute(...)` of a prepared document, without parsing or validating it again."""
    token = _PREPARED.set(prepared)
    try:
        return await schema.execute(prepared.body, **kwargs)
    finally:
        _PREPARED.reset(token)


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def coordinates_used(schema: GraphQLSchema, document: DocumentNode) -> set[str]:
    """The schema coordinates a document uses: each `Type.field` it selects, `Type.field(arg:)`
    it passes, and every named type it reaches (fields' types, fragments' conditions, variables'
    types and the input types inside them, with their fields)."""
    from graphql import (
        TypeInfo,
        TypeInfoVisitor,
        get_named_type,
        is_input_object_type,
        type_from_ast,
        visit,
    )
    from graphql.language import Visitor

    used: set[str] = set()
    info = TypeInfo(schema)

    def reach_input(named: Any) -> None:
        if named is None or named.name in used:
            return
        used.add(named.name)
        if is_input_object_type(named):
            for name, input_field in named.fields.items():
                used.add(f"{named.name}.{name}")
                reach_input(get_named_type(input_field.type))

    class Collect(Visitor):
        def enter_field(self, node: Any, *_: Any) -> None:
            parent = info.get_parent_type()
            definition = info.get_field_def()
            if parent is not None and definition is not None:
                used.add(parent.name)
                used.add(f"{parent.name}.{node.name.value}")
                for argument in node.arguments or ():
                    used.add(f"{parent.name}.{node.name.value}({argument.name.value}:)")
                named = get_named_type(definition.type)
                used.add(named.name)
                for argument_definition in definition.args.values():
                    reach_input(get_named_type(argument_definition.type))

        def enter_variable_definition(self, node: Any, *_: Any) -> None:
            type_ = type_from_ast(schema, node.type)
            if type_ is not None:
                reach_input(get_named_type(type_))

        def enter_inline_fragment(self, node: Any, *_: Any) -> None:
            if node.type_condition is not None:
                used.add(node.type_condition.name.value)

        def enter_fragment_definition(self, node: Any, *_: Any) -> None:
            used.add(node.type_condition.name.value)

        def enter_operation_definition(self, node: Any, *_: Any) -> None:
            root = schema.get_root_type(node.operation)
            if root is not None:
                used.add(root.name)

    visit(document, TypeInfoVisitor(info, Collect()))
    return used


_NAME = r"[_A-Za-z][_0-9A-Za-z]*"
_COORDINATE = re.compile(rf"\b({_NAME})\.({_NAME})(?:\(({_NAME}):\))?")
_TYPE_SUBJECTS = (
    re.compile(rf"^({_NAME}) was removed\.$"),
    re.compile(rf"^({_NAME}) changed from"),
    re.compile(rf"from union type ({_NAME})\.$"),
    re.compile(rf"^({_NAME}) no longer implements"),
)


def breaking_coordinates(description: str) -> set[str]:
    """The coordinates a breaking change of graphql-core's `find_breaking_changes` is about, read
    from its description: `Field Task.title changed type from String! to Int!.` is `Task.title`,
    `Argument Query.x(a:) was removed.` is `Query.x(a:)` (a document passing it), `A required
    argument Query.x(a:) was added.` is `Query.x` (any document selecting it), `Enum value E.V was
    removed.` is `E`, `T was removed.` is `T`."""
    found: set[str] = set()
    for match in _COORDINATE.finditer(description):
        type_name, field_name, argument = match.groups()
        if argument is not None and not description.startswith("A required argument"):
            found.add(f"{type_name}.{field_name}({argument}:)")
        else:
            found.add(f"{type_name}.{field_name}")
        if description.startswith(("Enum value", "A required field")):
            found.add(type_name)
    for pattern in _TYPE_SUBJECTS:
        subject = pattern.search(description)
        if subject:
            found.add(subject.group(1))
    return found


def uses_any(used: Iterable[str], changed: Iterable[str]) -> set[str]:
    return set(used) & set(changed)
