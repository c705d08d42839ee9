"""AWS Bedrock `converse` and `converse_stream` with boto3, traced as `bedrock.converse` spans.

Runs offline: the fake provider speaks the Bedrock runtime wire format (including the binary
event stream), and boto3 gets dummy credentials. Writes traces.db to the current directory.
"""

from __future__ import annotations

import peekr
from peekr.testing.fake_provider import FakeProvider

MODEL_ID = "anthropic.claude-3-5-haiku-20241022-v1:0"


def main() -> None:
    peekr.instrument(storage="sqlite", path="traces.db")

    import boto3

    with FakeProvider() as fake:
        client = boto3.client(
            "bedrock-runtime",
            region_name="us-east-1",
            endpoint_url=fake.bedrock_endpoint_url,  # leave this out to talk to real Bedrock
            aws_access_key_id="fake",
            aws_secret_access_key="fake",
        )

        reply = client.converse(
            modelId=MODEL_ID,
            system=[{"text": "Answer briefly."}],
            messages=[{"role": "user", "content": [{"text": "What is Bedrock?"}]}],
            inferenceConfig={"maxTokens": 100, "temperature": 0},
        )
        print("converse:", reply["output"]["message"]["content"][0]["text"], reply["usage"])

        # Streaming: iterate the event stream as usual; the span ends with the metadata event.
        stream = client.converse_stream(
            modelId=MODEL_ID, messages=[{"role": "user", "content": [{"text": "Stream a reply"}]}]
        )
        text = ""
        for event in stream["stream"]:
            if "contentBlockDelta" in event:
                text += event["contentBlockDelta"]["delta"].get("text", "")
        print("converse_stream:", text)
        client.close()

    peekr.shutdown()
    print("2 bedrock.converse spans in traces.db (peekr view traces.db --io)")


if __name__ == "__main__":
    main()
