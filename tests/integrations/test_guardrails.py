"""instrument(guards=[peekr.Blocklist(...)]) with the four real SDKs against the fake provider over HTTP.

The fake counts the requests it receives: a guard that raises on input must leave it at zero.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import peekr
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

# google-genai's aiohttp transport subclasses aiohttp.ClientSession (as in tests/integrations/gemini).
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

SECRET = "Project Nightingale"
PROMPT = f"Summarise the {SECRET} launch plan"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


def _openai(fake: FakeProvider) -> Callable[[str], str]:
    client = fake.openai_client()

    def call(text: str) -> str:
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]
        )
        return reply.choices[0].message.content or ""

    return call


def _anthropic(fake: FakeProvider) -> Callable[[str], str]:
    client = fake.anthropic_client()

    def call(text: str) -> str:
        reply = client.messages.create(
            model="claude-3-5-haiku-latest",
            max_tokens=50,
            system="be brief",
            messages=[{"role": "user", "content": [{"type": "text", "text": text}]}],
        )
        return reply.content[0].text  # type: ignore[union-attr]

    return call


def _bedrock(fake: FakeProvider) -> Callable[[str], str]:
    client = fake.bedrock_client()

    def call(text: str) -> str:
        reply = client.converse(
            modelId="anthropic.claude-3-haiku-20240307-v1:0",
            system=[{"text": "be brief"}],
            messages=[{"role": "user", "content": [{"text": text}]}],
        )
        return str(reply["output"]["message"]["content"][0]["text"])

    return call


def _gemini(fake: FakeProvider) -> Callable[[str], str]:
    client = fake.genai_client()

    def call(text: str) -> str:
        reply = client.models.generate_content(
            model="gemini-2.0-flash", contents=text, config={"system_instruction": "be brief"}
        )
        return reply.text or ""

    return call


PROVIDERS = {"openai": _openai, "anthropic": _anthropic, "bedrock": _bedrock, "gemini": _gemini}


def _start(guard: peekr.Blocklist, provider: str) -> InMemorySink:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=[provider], guards=[guard])
    return sink


@pytest.mark.parametrize("provider", PROVIDERS)
def test_input_raise_blocks_the_request_before_it_is_sent(provider: str, fake: FakeProvider) -> None:
    sink = _start(peekr.Blocklist(["project nightingale"], action="raise", name="codenames"), provider)
    call = PROVIDERS[provider](fake)
    before = len(fake.requests)
    with pytest.raises(peekr.GuardrailError, match="'codenames' blocked this call: 1 match.*request was not sent"):
        call(PROMPT)
    assert len(fake.requests) == before  # the provider received nothing
    assert call("a harmless question").startswith("Echo:")  # other calls go through
    assert len(fake.requests) == before + 1
    assert peekr.flush(5)
    blocked = sink.spans[0]
    assert blocked.status == "error" and blocked.attributes["error"]["type"] == "peekr.GuardrailError"
    assert blocked.attributes["guardrails"] == [{"guard": "codenames", "on": "input", "action": "raise", "matches": 1}]
    assert "guardrails" not in sink.spans[1].attributes


@pytest.mark.parametrize("provider", PROVIDERS)
def test_input_redact_sends_the_request_with_the_match_replaced(provider: str, fake: FakeProvider) -> None:
    sink = _start(peekr.Blocklist(patterns=[r"Project \w+"], action="redact"), provider)
    call = PROVIDERS[provider](fake)
    reply = call(PROMPT)
    sent = fake.last_request.body.decode()
    assert SECRET not in sent and "Summarise the [BLOCKED] launch plan" in sent
    assert reply == "Echo: Summarise the [BLOCKED] launch plan"
    assert peekr.flush(5)
    assert SECRET not in str(sink.spans[0].attributes.get("input"))
    assert sink.spans[0].attributes["guardrails"][0]["action"] == "redact"


def test_redact_never_changes_the_callers_objects(fake: FakeProvider) -> None:
    _start(peekr.Blocklist([SECRET], action="redact"), "openai")
    messages = [{"role": "user", "content": PROMPT}]
    fake.openai_client().chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    assert messages == [{"role": "user", "content": PROMPT}]


def test_input_warn_logs_once_records_and_sends_unchanged(fake: FakeProvider, caplog: pytest.LogCaptureFixture) -> None:
    sink = _start(peekr.Blocklist([SECRET], action="warn"), "openai")
    call = _openai(fake)
    with caplog.at_level(logging.WARNING, logger="peekr"):
        call(PROMPT)
        call(PROMPT)
    assert SECRET in fake.last_request.body.decode()
    assert sum("guardrail 'blocklist' matched 1 time(s) in the input" in r.message for r in caplog.records) == 1
    assert peekr.flush(5)
    assert [s.attributes["guardrails"][0]["action"] for s in sink.spans] == ["warn", "warn"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_output_warn_records_without_touching_the_reply(provider: str, fake: FakeProvider) -> None:
    sink = _start(peekr.Blocklist([SECRET], on="output", action="warn"), provider)
    assert PROVIDERS[provider](fake)(PROMPT) == f"Echo: {PROMPT}"
    assert peekr.flush(5)
    assert sink.spans[0].attributes["guardrails"] == [
        {"guard": "blocklist", "on": "output", "action": "warn", "matches": 1}
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_output_redact_changes_the_reply_text_and_the_record(provider: str, fake: FakeProvider) -> None:
    sink = _start(peekr.Blocklist([SECRET], on="output", action="redact"), provider)
    assert PROVIDERS[provider](fake)(PROMPT) == "Echo: Summarise the [BLOCKED] launch plan"
    assert SECRET in fake.last_request.body.decode()  # on="output": the request was not changed
    assert peekr.flush(5)
    assert SECRET not in str(sink.spans[0].attributes.get("output"))


def test_output_raise_withholds_the_reply(fake: FakeProvider) -> None:
    sink = _start(peekr.Blocklist([SECRET], on="both", action="raise"), "openai")
    with pytest.raises(peekr.GuardrailError, match="in the input"):
        _openai(fake)(PROMPT)
    peekr.shutdown()
    sink = _start(peekr.Blocklist(["Echo"], on="output", action="raise"), "openai")
    with pytest.raises(peekr.GuardrailError, match="in the output; the response was withheld"):
        _openai(fake)("hello")
    assert peekr.flush(5)
    assert sink.spans[0].status == "error"


@pytest.mark.anyio
async def test_async_input_raise_sends_nothing(fake: FakeProvider) -> None:
    _start(peekr.Blocklist([SECRET]), "openai")
    before = len(fake.requests)
    async with fake.async_openai_client() as client:
        with pytest.raises(peekr.GuardrailError):
            await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}])
        reply = await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Echo: hi"
    assert len(fake.requests) == before + 1


def test_guards_apply_to_sampled_out_calls(fake: FakeProvider) -> None:
    sink = InMemorySink()
    peekr.instrument(
        storage="none",
        sinks=[sink],
        providers=["openai"],
        sample_rate=0.0,
        keep_errors=False,
        guards=[peekr.Blocklist([SECRET])],
    )
    before = len(fake.requests)
    with pytest.raises(peekr.GuardrailError):
        _openai(fake)(PROMPT)
    assert len(fake.requests) == before
    assert peekr.flush(5) and sink.spans == []


class _Broken(peekr.Blocklist):
    def count(self, text: str) -> int:
        raise RuntimeError("guard bug")


@pytest.mark.swallows_internal_errors
def test_a_guard_that_fails_internally_never_reaches_the_caller(fake: FakeProvider) -> None:
    _start(_Broken([SECRET], on="both"), "openai")
    assert _openai(fake)(PROMPT) == f"Echo: {PROMPT}"
    assert peekr.stats().internal_errors >= 2  # input and output: logged and counted


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: peekr.Blocklist(), ValueError, "at least one word or pattern"),
        (lambda: peekr.Blocklist("secret"), TypeError, "list of words"),
        (lambda: peekr.Blocklist([""]), ValueError, "non-empty str"),
        (lambda: peekr.Blocklist(patterns=["("]), ValueError, "not a valid regex"),
        (lambda: peekr.Blocklist(patterns=["x*"]), ValueError, "matches the empty string"),
        (lambda: peekr.Blocklist(["x"], on="request"), ValueError, "on='request'"),  # type: ignore[arg-type]
        (lambda: peekr.Blocklist(["x"], action="block"), ValueError, "action='block'"),  # type: ignore[arg-type]
        (lambda: peekr.instrument(storage="none", guards=peekr.Blocklist(["x"])), TypeError, "list of peekr.Blocklist"),  # type: ignore[arg-type]
        (lambda: peekr.instrument(storage="none", guards=["x"]), TypeError, "is not a peekr.Blocklist"),  # type: ignore[list-item]
    ],
)
def test_bad_guard_options_raise_clear_errors(make: Callable[[], Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make()


def test_gemini_typed_contents_and_config_system_instruction_are_redacted(fake: FakeProvider) -> None:
    from google.genai import types

    _start(peekr.Blocklist([SECRET], action="redact"), "gemini")
    contents = [types.Content(role="user", parts=[types.Part(text=PROMPT)])]
    config = types.GenerateContentConfig(system_instruction=f"Never discuss {SECRET}.")
    client = fake.genai_client()
    reply = client.models.generate_content(model="gemini-2.0-flash", contents=contents, config=config)
    sent = fake.last_request.body.decode()
    assert SECRET not in sent and "Never discuss [BLOCKED]." in sent
    assert reply.text == "Echo: Summarise the [BLOCKED] launch plan"
    assert contents[0].parts[0].text == PROMPT and config.system_instruction == f"Never discuss {SECRET}."  # type: ignore[index]  # copies


ASYNCIO_ONLY = pytest.mark.parametrize("anyio_backend", ["asyncio"])  # google-genai's async transport: aiohttp


@pytest.mark.anyio
@ASYNCIO_ONLY
async def test_async_gemini_output_raise(fake: FakeProvider) -> None:
    sink = _start(peekr.Blocklist(["Echo"], on="output", action="raise"), "gemini")
    client = fake.genai_client()
    try:
        with pytest.raises(peekr.GuardrailError, match="in the output"):
            await client.aio.models.generate_content(model="gemini-2.0-flash", contents="hello")
    finally:
        await client.aio.aclose()  # its aiohttp session belongs to this loop
    assert peekr.flush(5)
    assert sink.spans[0].status == "error"


@pytest.mark.parametrize("keep_errors", [False, True])
def test_output_raise_applies_to_a_sampled_out_call(fake: FakeProvider, keep_errors: bool) -> None:
    sink = InMemorySink()
    peekr.instrument(
        storage="none",
        sinks=[sink],
        providers=["openai"],
        sample_rate=0.0,
        keep_errors=keep_errors,
        guards=[peekr.Blocklist(["Echo"], on="output", action="raise")],
    )
    with pytest.raises(peekr.GuardrailError, match="in the output"):
        _openai(fake)("hello")
    assert peekr.flush(5)
    # keep_errors: the blocked call is an error span, so its trace is kept
    assert [s.status for s in sink.spans] == (["error"] if keep_errors else [])


@pytest.mark.anyio
@ASYNCIO_ONLY
async def test_async_output_raise_on_a_sampled_out_call(fake: FakeProvider) -> None:
    peekr.instrument(
        storage="none",
        providers=["openai", "gemini"],
        sample_rate=0.0,
        keep_errors=False,
        guards=[peekr.Blocklist(["Echo"], on="output", action="raise")],
    )
    async with fake.async_openai_client() as client:
        with pytest.raises(peekr.GuardrailError):
            await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    gemini = fake.genai_client()
    try:
        with pytest.raises(peekr.GuardrailError):
            await gemini.aio.models.generate_content(model="gemini-2.0-flash", contents="hello")
    finally:
        await gemini.aio.aclose()
