"""Google Gemini (google-genai): sync, async and streamed calls become `gemini.generate_content` spans.

Runs offline against the fake provider. Writes traces.db to the current directory.
"""

from __future__ import annotations

import asyncio

import peekr
from peekr.testing.fake_provider import FakeProvider


async def main() -> None:
    peekr.instrument(storage="sqlite", path="traces.db")

    from google import genai
    from google.genai import types

    with FakeProvider() as fake:
        client = genai.Client(
            api_key="fake",
            http_options=types.HttpOptions(
                base_url=fake.gemini_base_url,  # leave this out to talk to the real Gemini API
                retry_options=types.HttpRetryOptions(attempts=1),
            ),
        )

        reply = client.models.generate_content(model="gemini-2.0-flash", contents="What is Gemini?")
        print("sync:  ", reply.text)

        reply = await client.aio.models.generate_content(
            model="gemini-2.0-flash",
            contents="And asynchronously?",
            config=types.GenerateContentConfig(temperature=0, max_output_tokens=50),
        )
        print("async: ", reply.text)

        text = ""
        async for chunk in await client.aio.models.generate_content_stream(
            model="gemini-2.0-flash", contents="Stream it"
        ):
            text += chunk.text or ""
        print("stream:", text)
        await client.aio.aclose()
        client.close()

    await peekr.aflush()
    peekr.shutdown()
    print("3 gemini.generate_content spans in traces.db (peekr view traces.db --io)")


if __name__ == "__main__":
    asyncio.run(main())
