"""The AI provider: the real `openai` client against a fake OpenAI-compatible server on
loopback, and the offline provider."""

from __future__ import annotations

import math
import time

import pydantic
import pytest

from core.ai import (
    OFFLINE_EMBEDDING_DIMENSIONS,
    AIFailure,
    AIProviderError,
    MeteredProvider,
    OfflineProvider,
    OpenAIProvider,
    StructuredPrompt,
    build_provider,
    hashed_embedding,
)
from core.settings import Settings
from tests.fake_openai import FAKE_MODEL, EmbeddingReply, Fail, FakeOpenAI, Reply, Stall


class Verdict(pydantic.BaseModel):
    headline: str
    score: int
    tags: list[str]


def verdict_prompt() -> StructuredPrompt[Verdict]:
    return StructuredPrompt(
        task="verdict",
        instructions="Judge the week.",
        input="Tasks done: 12. Overdue: 2.",
        output=Verdict,
        offline=lambda: Verdict(headline="12 tasks done, 2 overdue", score=7, tags=["weekly"]),
    )


def provider_for(fake: FakeOpenAI, *, max_retries: int = 2, timeout: float = 5.0) -> OpenAIProvider:
    return OpenAIProvider(
        api_key="test-key",
        base_url=fake.base_url,
        chat_model="scripted-chat",
        embedding_model="scripted-embed",
        timeout=timeout,
        max_retries=max_retries,
    )


async def test_structured_output_is_parsed_into_the_model(fake_openai: FakeOpenAI) -> None:
    # Given a server that answers with JSON matching the schema
    fake_openai.chat(Reply({"headline": "A steady week", "score": 8, "tags": ["focus", "health"]}))
    provider = provider_for(fake_openai)
    # When a structured completion is asked for
    completion = await provider.complete(verdict_prompt())
    await provider.close()
    # Then the answer is the typed model, and says which provider and model made it
    assert completion.value == Verdict(headline="A steady week", score=8, tags=["focus", "health"])
    assert completion.model == FAKE_MODEL
    assert completion.provider.startswith("openai-compatible@127.0.0.1:")
    assert completion.usage is not None
    assert completion.usage.output_tokens == 7
    # And the request carried the prompt, the configured model and the JSON schema (strict)
    (request,) = fake_openai.received("/chat/completions")
    assert request.body["model"] == "scripted-chat"
    assert [m["role"] for m in request.body["messages"]] == ["system", "user"]
    assert request.body["messages"][1]["content"] == "Tasks done: 12. Overdue: 2."
    schema = request.body["response_format"]
    assert schema["type"] == "json_schema"
    assert schema["json_schema"]["strict"] is True
    assert set(schema["json_schema"]["schema"]["properties"]) == {"headline", "score", "tags"}
    assert request.headers["authorization"] == "Bearer test-key"


async def test_a_429_is_retried_with_backoff_then_succeeds(fake_openai: FakeOpenAI) -> None:
    # Given a server that is rate limited once, then answers
    fake_openai.chat(Fail(429, retry_after_ms=150), Reply({"headline": "ok", "score": 1, "tags": []}))
    provider = provider_for(fake_openai, max_retries=2)
    # When a completion is asked for
    started = time.monotonic()
    completion = await provider.complete(verdict_prompt())
    elapsed = time.monotonic() - started
    await provider.close()
    # Then the client retried after the server's delay and got the answer
    assert completion.value.headline == "ok"
    requests = fake_openai.received("/chat/completions")
    assert len(requests) == 2
    assert requests[1].headers.get("x-stainless-retry-count") == "1"
    assert elapsed >= 0.15


async def test_server_errors_until_the_retries_run_out_give_one_typed_error(fake_openai: FakeOpenAI) -> None:
    # Given a server that fails with 500 every time
    fake_openai.chat(*(Fail(500, retry_after_ms=10) for _ in range(3)))
    provider = provider_for(fake_openai, max_retries=2)
    # When a completion is asked for, then it fails with SERVER_ERROR after 1 + 2 attempts
    with pytest.raises(AIProviderError) as caught:
        await provider.complete(verdict_prompt())
    await provider.close()
    assert caught.value.reason is AIFailure.SERVER_ERROR
    assert caught.value.status == 500
    assert caught.value.retryable
    assert caught.value.code == "AI_SERVER_ERROR"
    assert len(fake_openai.received("/chat/completions")) == 3


async def test_a_rate_limit_that_outlasts_the_retries_is_rate_limited(fake_openai: FakeOpenAI) -> None:
    fake_openai.chat(Fail(429, retry_after_ms=10), Fail(429, retry_after_ms=10))
    provider = provider_for(fake_openai, max_retries=1)
    with pytest.raises(AIProviderError) as caught:
        await provider.complete(verdict_prompt())
    await provider.close()
    assert caught.value.reason is AIFailure.RATE_LIMITED
    assert len(fake_openai.received("/chat/completions")) == 2


async def test_a_bad_request_is_rejected_without_retrying(fake_openai: FakeOpenAI) -> None:
    # Given a server that refuses the request (e.g. an unknown model or a bad key)
    fake_openai.chat(Fail(401, message="invalid api key"))
    provider = provider_for(fake_openai, max_retries=2)
    with pytest.raises(AIProviderError) as caught:
        await provider.complete(verdict_prompt())
    await provider.close()
    # Then it is not retried, and retrying later won't help
    assert caught.value.reason is AIFailure.REJECTED
    assert not caught.value.retryable
    assert "invalid api key" in caught.value.message
    assert len(fake_openai.received("/chat/completions")) == 1


async def test_a_server_that_does_not_answer_in_time_is_a_timeout(fake_openai: FakeOpenAI) -> None:
    # Given a server that holds the request far longer than the client's timeout (released when
    # the test ends), and would then answer 500
    fake_openai.chat(Stall(120))
    provider = provider_for(fake_openai, max_retries=0, timeout=0.3)
    with pytest.raises(AIProviderError) as caught:
        await provider.complete(verdict_prompt())
    await provider.close()
    # Then the call gives up at the timeout with TIMEOUT: the server had not answered yet (no
    # clock is compared, so a loaded machine cannot make this fail)
    assert caught.value.reason is AIFailure.TIMEOUT
    assert len(fake_openai.received("/chat/completions")) == 1


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply("this is not JSON"), "does not match the schema"),
        (Reply({"headline": "missing the rest"}), "does not match the schema"),
        (Reply({"headline": "x", "score": "high", "tags": []}), "does not match the schema"),
        (Reply('{"headline": "cut', finish_reason="length"), "cut short"),
    ],
    ids=["not-json", "missing-fields", "wrong-type", "truncated"],
)
async def test_malformed_output_is_invalid_output(fake_openai: FakeOpenAI, reply: Reply, expected: str) -> None:
    fake_openai.chat(reply)
    provider = provider_for(fake_openai, max_retries=2)
    with pytest.raises(AIProviderError) as caught:
        await provider.complete(verdict_prompt())
    await provider.close()
    assert caught.value.reason is AIFailure.INVALID_OUTPUT
    assert expected in caught.value.message
    # A well-formed HTTP answer is not retried by the client (the job may try again later)
    assert len(fake_openai.received("/chat/completions")) == 1


async def test_a_refusal_is_refused(fake_openai: FakeOpenAI) -> None:
    fake_openai.chat(Reply("", refusal="I can't help with that"))
    provider = provider_for(fake_openai)
    with pytest.raises(AIProviderError) as caught:
        await provider.complete(verdict_prompt())
    await provider.close()
    assert caught.value.reason is AIFailure.REFUSED


async def test_an_unreachable_server_is_a_connection_error() -> None:
    provider = OpenAIProvider(
        api_key="k",
        base_url="http://127.0.0.1:9/v1",
        chat_model="m",
        embedding_model="e",
        timeout=2,
        max_retries=0,
    )
    with pytest.raises(AIProviderError) as caught:
        await provider.complete(verdict_prompt())
    await provider.close()
    assert caught.value.reason is AIFailure.CONNECTION


async def test_embeddings_come_back_in_input_order(fake_openai: FakeOpenAI) -> None:
    fake_openai.embeddings(EmbeddingReply([[1.0, 0.0], [0.0, 1.0]]), Fail(503, retry_after_ms=10))
    provider = provider_for(fake_openai, max_retries=0)
    embeddings = await provider.embed(["first", "second"])
    assert embeddings.vectors == [[1.0, 0.0], [0.0, 1.0]]
    assert embeddings.dimensions == 2
    assert embeddings.model == "fake-embedding-1"
    (request,) = fake_openai.received("/embeddings")
    assert request.body["input"] == ["first", "second"]
    assert request.body["model"] == "scripted-embed"
    assert request.body["encoding_format"] == "float"
    # And a failure of the embeddings endpoint is the same typed error
    with pytest.raises(AIProviderError) as caught:
        await provider.embed(["third"])
    await provider.close()
    assert caught.value.reason is AIFailure.SERVER_ERROR


async def test_the_offline_provider_runs_the_template() -> None:
    provider = OfflineProvider()
    completion = await provider.complete(verdict_prompt())
    assert completion.value == Verdict(headline="12 tasks done, 2 overdue", score=7, tags=["weekly"])
    assert (completion.provider, completion.model) == ("offline", "templates-v1")


async def test_offline_embeddings_are_deterministic_normalised_and_meaningful() -> None:
    provider = OfflineProvider()
    texts = ["Finish the quarterly tax return", "quarterly tax return: finish it", "Walk the dog in the park", ""]
    first = await provider.embed(texts)
    again = await provider.embed(texts)
    assert first.vectors == again.vectors
    assert first.dimensions == OFFLINE_EMBEDDING_DIMENSIONS
    assert first.model == "hashed-tokens-256"

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    tax, tax_again, dog, empty = first.vectors
    assert math.isclose(math.sqrt(cosine(tax, tax)), 1.0)
    assert cosine(tax, tax_again) > 0.5 > abs(cosine(tax, dog))
    assert empty == [0.0] * OFFLINE_EMBEDDING_DIMENSIONS
    assert hashed_embedding("Tax") == hashed_embedding("tax")


def test_the_key_switches_the_provider() -> None:
    offline = build_provider(Settings(_env_file=None, openai_api_key=None))
    assert isinstance(offline, MeteredProvider)
    assert isinstance(offline.provider, OfflineProvider)
    online = build_provider(
        Settings(_env_file=None, openai_api_key="sk-test", openai_base_url=None, ai_chat_model="gpt-x")
    )
    assert isinstance(online, MeteredProvider)
    assert isinstance(online.provider, OpenAIProvider)
    assert (online.name, online.chat_model) == ("openai", "gpt-x")
