"""Async Anthropic streaming: every streamed message becomes one span with its token counts.

Runs offline against Peekr's built-in fake provider (no API key). Writes traces.db to the
current directory; look at it with `peekr view traces.db --io`.
"""

from __future__ import annotations

import asyncio

import peekr
from peekr.testing.fake_provider import FakeProvider


async def main() -> None:
    peekr.instrument(storage="sqlite", path="traces.db")

    from anthropic import AsyncAnthropic

    with FakeProvider() as fake:  # speaks the Anthropic wire format on 127.0.0.1
        client = AsyncAnthropic(base_url=fake.anthropic_base_url, api_key="sk-ant-fake", max_retries=0)

        # The SDK's streaming helper: you read its text stream as usual; the span ends when the
        # stream is done, with time-to-first-token (ttft_ms) and the final usage.
        async with client.messages.stream(
            model="claude-3-5-haiku-latest",
            max_tokens=200,
            system="You are terse.",
            messages=[{"role": "user", "content": "Stream three words please"}],
        ) as stream:
            async for text in stream.text_stream:
                print(text, end="", flush=True)
        print()

        # The raw event stream (stream=True) is recorded the same way.
        events = await client.messages.create(
            model="claude-3-5-haiku-latest",
            max_tokens=200,
            messages=[{"role": "user", "content": "Another stream"}],
            stream=True,
        )
        async for event in events:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                print(event.delta.text, end="", flush=True)
        print()
        await client.close()

    # In async code, flush without blocking the event loop; shutdown() then closes the sinks.
    await peekr.aflush()
    peekr.shutdown()
    print("2 anthropic.messages spans in traces.db (peekr view traces.db --io)")


if __name__ == "__main__":
    asyncio.run(main())
