"""The real google-genai SDK against the fake: sync (httpx2) and async (aiohttp), streams, chats, errors."""

from __future__ import annotations

import pytest
from google.genai import errors, types

from peekr.testing.fake_provider import FakeProvider

# google-genai 3.6.1 subclasses aiohttp.ClientSession for its async transport, which aiohttp 3.14 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

LOOKUP = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="lookup",
            parameters=types.Schema(
                type=types.Type.OBJECT, properties={"q": types.Schema(type=types.Type.STRING)}, required=["q"]
            ),
        )
    ]
)


def test_generate_content_text_and_usage(fake: FakeProvider) -> None:
    client = fake.genai_client()
    response = client.models.generate_content(
        model="gemini-test",
        contents="Hello there",
        config=types.GenerateContentConfig(system_instruction="Be brief."),
    )
    assert response.text == "Echo: Hello there"
    usage = response.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (4, 3, 7)
    assert response.candidates is not None and response.candidates[0].finish_reason == types.FinishReason.STOP
    assert fake.last_request.path == "/v1/models/gemini-test:generateContent"


def test_v1beta_api_version_is_served(fake: FakeProvider) -> None:
    client = fake.genai_client(api_version="v1beta")
    assert client.models.generate_content(model="gemini-test", contents="Hi").text == "Echo: Hi"
    assert fake.last_request.path == "/v1beta/models/gemini-test:generateContent"


def test_stream_one_chunk_per_word_final_usage_last(fake: FakeProvider) -> None:
    client = fake.genai_client()
    chunks = list(client.models.generate_content_stream(model="gemini-test", contents="Hello there"))
    assert [c.text for c in chunks] == ["Echo: ", "Hello ", "there"]
    assert fake.last_request.query == {"alt": "sse"}
    first, last = chunks[0].usage_metadata, chunks[-1].usage_metadata
    assert first is not None and (first.prompt_token_count, first.candidates_token_count) == (2, None)
    assert last is not None and (last.candidates_token_count, last.total_token_count) == (3, 5)


def test_function_call(fake: FakeProvider) -> None:
    client = fake.genai_client()
    config = types.GenerateContentConfig(
        tools=[LOOKUP], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
    )
    response = client.models.generate_content(model="gemini-tool", contents="Hello there", config=config)
    assert response.function_calls is not None
    call = response.function_calls[0]
    assert (call.name, call.args) == ("lookup", {"q": "Hello there"})


def test_chat_send_message_and_stream(fake: FakeProvider) -> None:
    client = fake.genai_client()
    chat = client.chats.create(model="gemini-test")
    assert chat.send_message("Hello there").text == "Echo: Hello there"
    assert "".join(c.text or "" for c in chat.send_message_stream("second turn")) == "Echo: second turn"
    assert len(fake.last_request.json["contents"]) == 3  # history went over the wire


@pytest.mark.anyio
async def test_async_generate_content_and_stream(fake: FakeProvider) -> None:
    client = fake.genai_client()
    try:
        response = await client.aio.models.generate_content(model="gemini-test", contents="Hello there")
        stream = await client.aio.models.generate_content_stream(model="gemini-test", contents="Hello there")
        texts = [chunk.text async for chunk in stream]
        chat = client.aio.chats.create(model="gemini-test")
        reply = await chat.send_message("Hi")
    finally:
        await client.aio.aclose()
    assert response.text == "Echo: Hello there"
    assert texts == ["Echo: ", "Hello ", "there"]
    assert reply.text == "Echo: Hi"


@pytest.mark.parametrize(
    ("model", "error"), [("gemini-error-400", errors.ClientError), ("gemini-error-500", errors.ServerError)]
)
def test_errors_raise_the_sdk_exception(fake: FakeProvider, model: str, error: type[errors.APIError]) -> None:
    client = fake.genai_client()
    with pytest.raises(error) as info:
        client.models.generate_content(model=model, contents="Hi")
    assert info.value.code == int(model[-3:])
    assert info.value.status in ("INVALID_ARGUMENT", "INTERNAL")


def test_error_429_is_resource_exhausted(fake: FakeProvider) -> None:
    client = fake.genai_client()
    with pytest.raises(errors.ClientError) as info:
        list(client.models.generate_content_stream(model="gemini-error-429", contents="Hi"))
    assert (info.value.code, info.value.status) == (429, "RESOURCE_EXHAUSTED")


def test_midstream_error_raises_server_error_after_two_chunks(fake: FakeProvider) -> None:
    client = fake.genai_client()
    texts = []
    with pytest.raises(errors.ServerError, match="fake midstream error"):
        for chunk in client.models.generate_content_stream(model="gemini-midstream-error", contents="a b c d"):
            texts.append(chunk.text)
    assert texts == ["Echo: ", "a "]


@pytest.mark.anyio
async def test_async_midstream_error(fake: FakeProvider) -> None:
    client = fake.genai_client()
    try:
        stream = await client.aio.models.generate_content_stream(model="gemini-midstream-error", contents="a b c")
        with pytest.raises(errors.ServerError):
            async for _ in stream:
                pass
    finally:
        await client.aio.aclose()


def test_embed_content(fake: FakeProvider) -> None:
    client = fake.genai_client()
    response = client.models.embed_content(model="text-embedding-004", contents=["hello world", "bye"])  # type: ignore[arg-type]
    assert response.embeddings is not None and len(response.embeddings) == 2
    assert response.embeddings[0].values is not None and len(response.embeddings[0].values) == 8


def test_nousage(fake: FakeProvider) -> None:
    client = fake.genai_client()
    assert client.models.generate_content(model="gemini-nousage", contents="Hi").usage_metadata is None


def test_cache_keyword_reports_cached_content_tokens(fake: FakeProvider) -> None:
    client = fake.genai_client()
    config = types.GenerateContentConfig(system_instruction="Be brief.")
    usage = client.models.generate_content(model="gemini-cache", contents="Hello there", config=config).usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.cached_content_token_count, usage.total_token_count) == (4, 2, 7)
