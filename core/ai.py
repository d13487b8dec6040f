"""One AI interface for every product: structured chat completions and embeddings.

`build_provider(settings)` returns the OpenAI provider when `OPENAI_API_KEY` is set (any
OpenAI-compatible server through `OPENAI_BASE_URL`: vLLM, Ollama, llama.cpp), and the offline
provider otherwise. Every result names the provider and the model that made it.

A structured request carries two ways to produce its result: a prompt for a language model
(with a pydantic model as the JSON schema of the answer) and `offline`, a deterministic
template over the same input data. The offline provider runs the template, so the offline
output is the product's own template-based text, not filler.

Failures of the remote provider, once the client's own retries (with backoff, on 408, 409,
429, 5xx and connection errors) and timeout are spent, become one `AIProviderError` whose
`reason` says what happened and whether trying again later may help.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, Protocol, TypeVar
from urllib.parse import urlsplit

import openai
import pydantic
from openai import AsyncOpenAI

from core import metrics
from core.settings import Settings

T = TypeVar("T", bound=pydantic.BaseModel)
R = TypeVar("R")

OFFLINE_PROVIDER = "offline"
OFFLINE_CHAT_MODEL = "templates-v1"
OFFLINE_EMBEDDING_DIMENSIONS = 256
OFFLINE_EMBEDDING_MODEL = f"hashed-tokens-{OFFLINE_EMBEDDING_DIMENSIONS}"


class AIFailure(StrEnum):
    """Why a provider call failed for good."""

    RATE_LIMITED = "rate_limited"  # 429 after every retry
    SERVER_ERROR = "server_error"  # 5xx after every retry
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    REJECTED = "rejected"  # 4xx: bad key, unknown model, bad request
    REFUSED = "refused"  # the model declined to answer
    INVALID_OUTPUT = "invalid_output"  # not JSON, not the schema, or cut short

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later."""
        return self is not AIFailure.REJECTED


class AIProviderError(Exception):
    """A provider call that failed for good; `reason` says why."""

    def __init__(self, reason: AIFailure, message: str, *, provider: str, model: str, status: int | None = None):
        super().__init__(f"{provider}/{model}: {message}")
        self.reason = reason
        self.message = message
        self.provider = provider
        self.model = model
        self.status = status

    @property
    def code(self) -> str:
        return f"AI_{self.reason.name}"

    @property
    def retryable(self) -> bool:
        return self.reason.retryable


@dataclass(frozen=True)
class StructuredPrompt(Generic[T]):
    """A request for a typed answer: a prompt for a model, and the offline template."""

    #: short name of the task, sent as the JSON schema's name (letters, digits, _ and -)
    task: str
    instructions: str
    input: str
    output: type[T]
    offline: Callable[[], T]
    temperature: float | None = None


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Completion(Generic[T]):
    value: T
    provider: str
    model: str
    usage: Usage | None = None


@dataclass(frozen=True)
class Embeddings:
    vectors: list[list[float]]
    provider: str
    model: str
    dimensions: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dimensions", len(self.vectors[0]) if self.vectors else 0)


class AIProvider(Protocol):
    name: str
    chat_model: str
    embedding_model: str

    async def complete(self, prompt: StructuredPrompt[T]) -> Completion[T]: ...

    async def embed(self, texts: Sequence[str]) -> Embeddings: ...

    async def close(self) -> None: ...


# ------------------------------------------------------------------------------ OpenAI


class OpenAIProvider:
    """The official `openai` client against OpenAI or any server that speaks its API."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None,
        chat_model: str,
        embedding_model: str,
        timeout: float,
        max_retries: int,
    ) -> None:
        self.client = AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)
        self.name = "openai" if base_url is None else f"openai-compatible@{urlsplit(base_url).netloc or base_url}"
        self.chat_model = chat_model
        self.embedding_model = embedding_model

    def _error(self, exc: Exception, model: str) -> AIProviderError:
        status: int | None = None
        if isinstance(exc, openai.APITimeoutError):  # before APIConnectionError, its base class
            reason, message = AIFailure.TIMEOUT, "the provider did not answer in time"
        elif isinstance(exc, openai.APIConnectionError):
            reason, message = AIFailure.CONNECTION, "the provider could not be reached"
        elif isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status == 429:
                reason = AIFailure.RATE_LIMITED
            elif status >= 500:
                reason = AIFailure.SERVER_ERROR
            else:
                reason = AIFailure.REJECTED
            message = f"the provider answered HTTP {status}: {exc.message}"
        elif isinstance(exc, openai.LengthFinishReasonError | openai.ContentFilterFinishReasonError):
            reason, message = AIFailure.INVALID_OUTPUT, "the answer was cut short"
        else:  # pydantic.ValidationError, ValueError: not JSON, or not the schema
            reason, message = AIFailure.INVALID_OUTPUT, f"the answer does not match the schema: {exc}"
        return AIProviderError(reason, message[:500], provider=self.name, model=model, status=status)

    async def complete(self, prompt: StructuredPrompt[T]) -> Completion[T]:
        try:
            response = await self.client.chat.completions.parse(
                model=self.chat_model,
                messages=[
                    {"role": "system", "content": prompt.instructions},
                    {"role": "user", "content": prompt.input},
                ],
                response_format=prompt.output,
                temperature=prompt.temperature if prompt.temperature is not None else openai.omit,
            )
        except (openai.OpenAIError, pydantic.ValidationError, ValueError) as exc:
            raise self._error(exc, self.chat_model) from exc
        model = response.model or self.chat_model
        if not response.choices:
            raise AIProviderError(AIFailure.INVALID_OUTPUT, "no choices", provider=self.name, model=model)
        message = response.choices[0].message
        if message.refusal:
            raise AIProviderError(
                AIFailure.REFUSED, f"the model refused: {message.refusal[:300]}", provider=self.name, model=model
            )
        if message.parsed is None:
            raise AIProviderError(AIFailure.INVALID_OUTPUT, "no content", provider=self.name, model=model)
        usage = (
            Usage(input_tokens=response.usage.prompt_tokens, output_tokens=response.usage.completion_tokens)
            if response.usage
            else None
        )
        return Completion(value=message.parsed, provider=self.name, model=model, usage=usage)

    async def embed(self, texts: Sequence[str]) -> Embeddings:
        if not texts:
            return Embeddings(vectors=[], provider=self.name, model=self.embedding_model)
        try:
            # Plain floats: base64 (the client's default) is not spoken by every compatible server.
            response = await self.client.embeddings.create(
                model=self.embedding_model, input=list(texts), encoding_format="float"
            )
        except (openai.OpenAIError, ValueError) as exc:
            raise self._error(exc, self.embedding_model) from exc
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(texts):
            raise AIProviderError(
                AIFailure.INVALID_OUTPUT,
                f"{len(data)} embeddings for {len(texts)} texts",
                provider=self.name,
                model=response.model or self.embedding_model,
            )
        return Embeddings(
            vectors=[list(item.embedding) for item in data],
            provider=self.name,
            model=response.model or self.embedding_model,
        )

    async def close(self) -> None:
        await self.client.close()


# ----------------------------------------------------------------------------- offline

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def hashed_embedding(text: str, dimensions: int = OFFLINE_EMBEDDING_DIMENSIONS) -> list[float]:
    """A deterministic bag-of-words vector: words and word pairs hashed into `dimensions`
    signed buckets (the hashing trick), L2-normalised. Texts that share words are close."""
    words = [w.lower() for w in _TOKEN.findall(text)]
    features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
    vector = [0.0] * dimensions
    for feature in features:
        digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
        vector[digest % dimensions] += 1.0 if digest >> 63 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector


class OfflineProvider:
    """No network: the request's own template, and hashed-token embeddings."""

    name = OFFLINE_PROVIDER
    chat_model = OFFLINE_CHAT_MODEL
    embedding_model = OFFLINE_EMBEDDING_MODEL

    async def complete(self, prompt: StructuredPrompt[T]) -> Completion[T]:
        value = prompt.offline()
        if not isinstance(value, prompt.output):
            raise TypeError(f"the offline template of {prompt.task} returned {type(value).__name__}")
        return Completion(value=value, provider=self.name, model=self.chat_model)

    async def embed(self, texts: Sequence[str]) -> Embeddings:
        return Embeddings(vectors=[hashed_embedding(t) for t in texts], provider=self.name, model=self.embedding_model)

    async def close(self) -> None:
        return None


class MeteredProvider:
    """A provider whose calls are counted by provider, call and outcome, and timed
    (`quintet_ai_calls_total`, `quintet_ai_call_duration_seconds`)."""

    def __init__(self, provider: AIProvider) -> None:
        self.provider = provider
        self.name = provider.name
        self.chat_model = provider.chat_model
        self.embedding_model = provider.embedding_model

    async def _metered(self, call: str, work: Awaitable[R]) -> R:
        began = time.perf_counter()
        outcome = "error"
        try:
            value = await work
        except AIProviderError as error:
            outcome = error.reason.value
            raise
        else:
            outcome = "ok"
            return value
        finally:
            metrics.AI_CALLS.labels(self.name, call, outcome).inc()
            metrics.AI_SECONDS.labels(self.name, call).observe(time.perf_counter() - began)

    async def complete(self, prompt: StructuredPrompt[T]) -> Completion[T]:
        return await self._metered("complete", self.provider.complete(prompt))

    async def embed(self, texts: Sequence[str]) -> Embeddings:
        return await self._metered("embed", self.provider.embed(texts))

    async def close(self) -> None:
        await self.provider.close()


def build_provider(settings: Settings) -> AIProvider:
    """The configured provider (OpenAI with a key, else offline), its calls counted."""
    if settings.openai_api_key is None or not settings.openai_api_key.get_secret_value():
        return MeteredProvider(OfflineProvider())
    return MeteredProvider(
        OpenAIProvider(
            api_key=settings.openai_api_key.get_secret_value(),
            base_url=settings.openai_base_url,
            chat_model=settings.ai_chat_model,
            embedding_model=settings.ai_embedding_model,
            timeout=settings.ai_timeout_seconds,
            max_retries=settings.ai_max_retries,
        )
    )
