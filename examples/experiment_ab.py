"""A/B test two prompts with `peekr.experiment`, then compare them with `peekr compare`.

Each user is assigned a variant deterministically (the same user always gets the same prompt, in
every process); every span inside the block carries `experiment` and `experiment_variant`. Runs
offline against the bundled fake provider and writes traces.db to the current directory. Then:

    peekr compare traces.db --experiment support-prompt
    peekr cost traces.db --by model --by feature
"""

from __future__ import annotations

import asyncio

from openai import AsyncOpenAI

import peekr
from peekr.testing.fake_provider import FakeProvider

PROMPTS = {
    # The fake provider echoes the prompt, so the verbose prompt costs more tokens (and dollars).
    "verbose": "You are a friendly, thorough and patient support agent. Explain every step in detail, "
    "restate the question, list alternatives and finish with a summary. Question: ",
    "concise": "Answer briefly: ",
}
QUESTIONS = ["How do I reset my password?", "Where is my invoice?", "Can I change my plan?", "Is there an API?"]


async def answer(client: AsyncOpenAI, user: str, question: str) -> str:
    async with peekr.session(user_id=user, feature="support"):
        # 50/50 by user id; {"verbose": 0.9, "concise": 0.1} would send 10 % of users to "concise".
        async with peekr.experiment("support-prompt", variants=["concise", "verbose"]) as variant:
            reply = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPTS[variant] + question}]
            )
            return reply.choices[0].message.content or ""


async def main() -> None:
    peekr.instrument(storage="sqlite", path="traces.db")
    with FakeProvider() as fake:
        client = AsyncOpenAI(base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)
        for batch in range(50):  # 200 requests, four at a time
            await asyncio.gather(
                *(answer(client, f"user-{batch * 4 + i}", QUESTIONS[i]) for i in range(len(QUESTIONS)))
            )
        await client.close()
    await peekr.aflush()
    peekr.shutdown()
    # Outside a session there is no user_id to assign by: peekr says so instead of guessing.
    try:
        peekr.experiment("support-prompt", variants=["concise", "verbose"]).assign()
    except ValueError as exc:
        print(f"without a user: {exc}")
    print("200 requests recorded; now run: peekr compare traces.db --experiment support-prompt")


if __name__ == "__main__":
    asyncio.run(main())
