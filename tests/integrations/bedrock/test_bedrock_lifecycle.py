"""Patching: clients created before instrument() are traced, uninstrument() restores everything,
instrument() twice patches once, every other AWS call and stream passes straight through, content
capture can be switched off, connection errors are recorded."""

from __future__ import annotations

import json
import socket
from typing import Any

import boto3
import botocore.client
import pytest
from _bedrock_expect import CLAUDE, MESSAGES, TOOL_CONFIG, claude_body, only_span, spans, without_metadata
from botocore.config import Config
from botocore.eventstream import EventStream
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

import peekr
from peekr._context import suppress_instrumentation
from peekr.integrations._base import is_patched
from peekr.sinks.memory import InMemorySink
from peekr.testing.fake_provider import FakeProvider

IDENTITY = {"UserId": "AIDTEST", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/test"}


def _originals() -> tuple[Any, Any, Any]:
    return (
        botocore.client.BaseClient.__dict__["_make_api_call"],
        EventStream.__dict__["__iter__"],
        EventStream.__dict__["close"],
    )


def test_client_created_before_instrument_is_traced(fake: FakeProvider) -> None:
    client = fake.bedrock_client()
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["bedrock"])
    client.converse(modelId=CLAUDE, messages=MESSAGES)
    assert only_span(sink).name == "bedrock.converse"
    client.close()


def test_uninstrument_restores_the_sdk(fake: FakeProvider) -> None:
    originals = _originals()
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["bedrock"])
    assert is_patched(botocore.client.BaseClient, "_make_api_call")
    assert is_patched(EventStream, "__iter__") and is_patched(EventStream, "close")
    client = fake.bedrock_client()
    assert peekr.uninstrument() >= 3
    assert _originals() == originals
    client.converse(modelId=CLAUDE, messages=MESSAGES)
    list(client.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"])
    assert spans(sink) == []
    client.close()


def test_instrument_twice_patches_once(sink: InMemorySink) -> None:
    wrapper = botocore.client.BaseClient.__dict__["_make_api_call"]
    peekr.instrument(storage="none", sinks=[InMemorySink()], providers=["bedrock"])
    assert botocore.client.BaseClient.__dict__["_make_api_call"] is wrapper
    assert not hasattr(wrapper.__peekr_wrapped__, "__peekr_wrapped__")


def _sts() -> tuple[Any, Stubber]:
    sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id="fake", aws_secret_access_key="fake")
    stubber = Stubber(sts)
    stubber.activate()
    return sts, stubber


def test_other_aws_services_pass_straight_through(sink: InMemorySink) -> None:
    sts, stubber = _sts()
    stubber.add_response("get_caller_identity", IDENTITY)
    stubber.add_client_error("get_session_token", service_error_code="AccessDenied", http_status_code=403)
    assert without_metadata(sts.get_caller_identity()) == IDENTITY
    with pytest.raises(ClientError) as info:
        sts.get_session_token()
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    stubber.assert_no_pending_responses()
    assert spans(sink) == []


def test_other_aws_services_behave_as_without_peekr() -> None:
    sts, stubber = _sts()
    stubber.add_response("get_caller_identity", IDENTITY)
    before = sts.get_caller_identity()
    peekr.instrument(storage="none", sinks=[InMemorySink()], providers=["bedrock"])
    stubber.add_response("get_caller_identity", IDENTITY)
    assert sts.get_caller_identity() == before


def test_other_bedrock_runtime_operations_are_not_recorded(client: Any, sink: InMemorySink) -> None:
    with pytest.raises(ClientError):  # the fake has no guardrails: whatever it answers, no span
        client.apply_guardrail(
            guardrailIdentifier="g", guardrailVersion="1", source="INPUT", content=[{"text": {"text": "hi"}}]
        )
    assert spans(sink) == []


def test_untracked_event_streams_pass_through(client: Any, sink: InMemorySink) -> None:
    with suppress_instrumentation():  # peekr records nothing here: the stream is not watched
        stream = client.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"]
    events = list(stream)  # through the patched EventStream.__iter__
    stream.close()
    assert [next(iter(e)) for e in events] == [
        "messageStart",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert spans(sink) == []


def test_capture_content_off_records_no_content(fake: FakeProvider) -> None:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["bedrock"], capture_content=False)
    client = fake.bedrock_client()
    client.converse(modelId="claude-tool", messages=MESSAGES, toolConfig=TOOL_CONFIG)
    list(client.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"])
    client.invoke_model(modelId=CLAUDE, body=json.dumps(claude_body()))["body"].read()
    list(client.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(claude_body()))["body"])
    recorded = spans(sink)
    assert len(recorded) == 4
    for span in recorded:
        assert not {"input", "output", "tool_calls", "request"} & set(span.attributes), span.attributes
        assert span.attributes["tokens_total"] > 0 and span.attributes["finish_reason"]
    client.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_connection_error_is_recorded(sink: InMemorySink) -> None:
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{_closed_port()}",
        aws_access_key_id="fake",
        aws_secret_access_key="fake",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2),
    )
    with pytest.raises(EndpointConnectionError) as info:
        client.converse(modelId=CLAUDE, messages=MESSAGES)
    span = only_span(sink)
    assert (span.status, span.attributes["error"]["type"]) == ("error", "botocore.EndpointConnectionError")
    assert span.attributes["error"]["message"] == str(info.value)
    client.close()


def test_bound_method_captured_before_instrument_is_traced(fake: FakeProvider) -> None:
    client = fake.bedrock_client()
    converse = client.converse  # generated methods call self._make_api_call at call time
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=["bedrock"])
    converse(modelId=CLAUDE, messages=MESSAGES)
    assert only_span(sink).name == "bedrock.converse"
    client.close()


_LATE_IMPORT = """
import json, sys
import peekr
from peekr.sinks.memory import InMemorySink
assert "botocore" not in sys.modules
sink = InMemorySink()
peekr.instrument(storage="none", sinks=[sink], providers=["bedrock"])
import boto3                                   # imported after instrument(): patched on import
import aiobotocore.client, aiobotocore.eventstream
from peekr.integrations._base import is_patched
assert is_patched(aiobotocore.client.AioBaseClient, "_make_api_call")
assert is_patched(aiobotocore.eventstream.AioEventStream, "__aiter__")
client = boto3.client("bedrock-runtime", endpoint_url=sys.argv[1], region_name="us-east-1",
                      aws_access_key_id="fake", aws_secret_access_key="fake")
client.converse(modelId="m", messages=[{"role": "user", "content": [{"text": "Hello there"}]}])
client.close()
peekr.flush()
print(json.dumps([(s.name, s.attributes["tokens_total"]) for s in sink.spans]))
peekr.shutdown()
"""


def test_sdk_imported_after_instrument(fake: FakeProvider) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", _LATE_IMPORT, fake.bedrock_endpoint_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [["bedrock.converse", 5]]
