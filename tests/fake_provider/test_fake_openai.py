"""The real openai SDK against the fake: chat (JSON, SSE, tools), responses, embeddings, errors."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from peekr.testing.fake_provider import FakeProvider

HELLO: Any = [{"role": "user", "content": "Hello there"}]


def test_chat_create_echoes_last_user_message_with_word_token_counts(fake: FakeProvider) -> None:
    with fake.openai_client() as client:
        response = client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "system", "content": "Be brief."}, *HELLO],
        )
    assert response.choices[0].message.content == "Echo: Hello there"
    assert response.choices[0].finish_reason == "stop"
    assert response.model == "gpt-4o"
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (4, 3, 7)
    assert fake.last_request.path == "/v1/chat/completions"
    assert fake.last_request.json["messages"][1] == HELLO[0]
    assert fake.last_request.headers["authorization"] == "Bearer sk-fake"


def test_chat_stream_without_include_usage_has_no_usage_chunk(fake: FakeProvider) -> None:
    with fake.openai_client() as client:
        chunks = list(client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True))
    assert all(chunk.choices for chunk in chunks), "no choices==[] chunk unless include_usage"
    assert all(chunk.usage is None for chunk in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Echo: Hello there"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_chat_stream_with_include_usage_ends_with_usage_only_chunk(fake: FakeProvider) -> None:
    with fake.openai_client() as client:
        stream = client.chat.completions.create(
            model="gpt-4o", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.total_tokens == 5
    assert all(c.usage is None for c in chunks[:-1])
    # one content chunk per word, after the role chunk
    assert [c.choices[0].delta.content for c in chunks[1:4]] == ["Echo: ", "Hello ", "there"]


def test_chat_tool_call_uses_first_tool_schema(fake: FakeProvider) -> None:
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
            },
        }
    ]
    with fake.openai_client() as client:
        response = client.chat.completions.create(model="gpt-4o-tool", messages=HELLO, tools=tools)
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert (call.function.name, json.loads(call.function.arguments)) == ("lookup", {"q": "Hello there"})
    assert response.usage is not None and response.usage.completion_tokens == 3  # '{"q":', '"Hello', 'there"}'


def test_chat_tool_call_streams_by_index_and_answers_text_after_tool_result(fake: FakeProvider) -> None:
    with fake.openai_client() as client:
        with client.chat.completions.stream(model="gpt-4o-tool", messages=HELLO) as stream:
            final = stream.get_final_completion()
        call = final.choices[0].message.tool_calls[0]  # type: ignore[index]
        assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "Paris"}')
        history: Any = [
            *HELLO,
            {"role": "assistant", "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
        ]
        follow_up = client.chat.completions.create(model="gpt-4o-tool", messages=history)
    assert follow_up.choices[0].message.content == "Echo: 18C and sunny"


async def _async_chat(fake: FakeProvider) -> tuple[str, str]:
    async with fake.async_openai_client() as client:
        response = await client.chat.completions.create(model="gpt-4o", messages=HELLO)
        stream = await client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream])
    return response.choices[0].message.content or "", text


@pytest.mark.anyio
async def test_async_chat_create_and_stream(fake: FakeProvider) -> None:
    assert await _async_chat(fake) == ("Echo: Hello there", "Echo: Hello there")


def test_chat_midstream_error_raises_api_error_after_two_chunks(fake: FakeProvider) -> None:
    received = []
    with fake.openai_client() as client:
        stream = client.chat.completions.create(model="gpt-midstream-error", messages=HELLO, stream=True)
        with pytest.raises(openai.APIError, match="fake midstream error"):
            for chunk in stream:
                received.append(chunk.choices[0].delta.content)
    assert received == ["", "Echo: ", "Hello "]


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("gpt-error-400", openai.BadRequestError),
        ("gpt-error-401", openai.AuthenticationError),
        ("gpt-error-404", openai.NotFoundError),
        ("gpt-error-429", openai.RateLimitError),
        ("gpt-error-500", openai.InternalServerError),
    ],
)
def test_chat_errors_raise_the_sdk_exception(fake: FakeProvider, model: str, error: type[Exception]) -> None:
    with fake.openai_client() as client, pytest.raises(error) as info:
        client.chat.completions.create(model=model, messages=HELLO)
    assert isinstance(info.value, openai.APIStatusError)
    assert info.value.body["message"].startswith("fake error")  # type: ignore[index]
    if model.endswith("429"):
        assert info.value.response.headers["retry-after"] == "1"


def test_nousage_reports_no_usage(fake: FakeProvider) -> None:
    with fake.openai_client() as client:
        response = client.chat.completions.create(model="gpt-nousage", messages=HELLO)
        chunks = list(
            client.chat.completions.create(
                model="gpt-nousage", messages=HELLO, stream=True, stream_options={"include_usage": True}
            )
        )
    assert response.usage is None
    assert all(c.usage is None for c in chunks)


class Verdict(BaseModel):
    verdict: str
    score: float


def test_chat_responder_drives_structured_output(fake: FakeProvider) -> None:
    seen = []

    def judge(request: dict[str, object]) -> str:
        seen.append(request["response_format"])
        return json.dumps({"verdict": "supported", "score": 0.9})

    fake.chat_responder = judge
    with fake.openai_client() as client:
        parsed = client.chat.completions.parse(model="gpt-4o-mini", messages=HELLO, response_format=Verdict)
    assert parsed.choices[0].message.parsed == Verdict(verdict="supported", score=0.9)
    assert seen[0]["type"] == "json_schema"  # type: ignore[index]


def test_chat_responder_can_return_tool_calls(fake: FakeProvider) -> None:
    fake.chat_responder = lambda request: {
        "content": None,
        "tool_calls": [{"function": {"name": "search", "arguments": '{"q": "x"}'}}],
    }
    with fake.openai_client() as client:
        with client.chat.completions.stream(model="gpt-4o", messages=HELLO) as stream:
            final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (call.function.name, call.function.arguments) == ("search", '{"q": "x"}')


def test_responses_create_text_and_usage(fake: FakeProvider) -> None:
    with fake.openai_client() as client:
        response = client.responses.create(model="gpt-4o", instructions="Be brief.", input="Hello there")
    assert response.output_text == "Echo: Hello there"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (4, 3, 7)
    assert fake.last_request.path == "/v1/responses"


def test_responses_stream_helper_sees_full_event_sequence(fake: FakeProvider) -> None:
    with fake.openai_client() as client:
        with client.responses.stream(model="gpt-4o", input=HELLO) as stream:
            types = [event.type for event in stream]
            final = stream.get_final_response()
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types.count("response.output_text.delta") == 3
    assert types[-1] == "response.completed"
    assert final.output_text == "Echo: Hello there"
    assert final.usage is not None and final.usage.output_tokens == 3


def test_responses_function_call_streamed_and_not(fake: FakeProvider) -> None:
    tools = [
        {
            "type": "function",
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
    ]
    with fake.openai_client() as client:
        response = client.responses.create(model="gpt-tool", input="Hello there", tools=tools)  # type: ignore[arg-type]
        with client.responses.stream(model="gpt-tool", input="Hello there", tools=tools) as stream:  # type: ignore[arg-type]
            final = stream.get_final_response()
    for result in (response, final):
        call = result.output[0]
        assert call.type == "function_call"
        assert (call.name, json.loads(call.arguments)) == ("lookup", {"q": "Hello there"})


def test_responses_midstream_error_is_an_error_event(fake: FakeProvider) -> None:
    with fake.openai_client() as client:
        events = list(client.responses.create(model="gpt-midstream-error", input="a b c d", stream=True))
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) == 2
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]


def test_embeddings_default_base64_matches_float_encoding(fake: FakeProvider) -> None:
    with fake.openai_client() as client:
        default = client.embeddings.create(model="text-embedding-3-small", input=["hello world", "bye"])
        assert fake.last_request.json["encoding_format"] == "base64"
        floats = client.embeddings.create(
            model="text-embedding-3-small", input=["hello world", "bye"], encoding_format="float"
        )
        sized = client.embeddings.create(model="text-embedding-3-small", input="hello", dimensions=3)
    assert [d.embedding for d in default.data] == [d.embedding for d in floats.data]
    assert len(default.data[0].embedding) == 8
    assert default.data[0].embedding != default.data[1].embedding
    assert abs(sum(v * v for v in default.data[0].embedding) - 1) < 1e-5
    assert (default.usage.prompt_tokens, default.usage.total_tokens) == (3, 3)
    assert len(sized.data[0].embedding) == 3


def test_cache_keyword_reports_cached_tokens_inside_prompt_tokens(fake: FakeProvider) -> None:
    with fake.openai_client() as client:
        usage = client.chat.completions.create(
            model="gpt-cache", messages=[{"role": "system", "content": "Be brief."}, *HELLO]
        ).usage
        responses_usage = client.responses.create(
            model="gpt-cache", instructions="Be brief.", input="Hello there"
        ).usage
    assert usage is not None and usage.prompt_tokens_details is not None
    assert (usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens, usage.total_tokens) == (4, 2, 7)
    assert responses_usage is not None and responses_usage.input_tokens_details.cached_tokens == 2
