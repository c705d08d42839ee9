"""Apps for the offline eval runner tests: answer from a row's documents, or invent on purpose.

``configure(fake)`` points them (and nothing else) at a running fake provider whose responder is
``responder``; ``peekr eval run --app eval_apps:grounded`` imports them by name.
"""

from __future__ import annotations

from typing import Any

from openai import AsyncOpenAI, OpenAI

from peekr.evaluators._fake_judge import FakeJudge

SYSTEM = "Answer from these documents only:\n"
_state: dict[str, Any] = {}
_judge = FakeJudge()

FACTS = {
    "Where is the Eiffel Tower?": ["The Eiffel Tower is in Paris."],
    "When was the Eiffel Tower completed?": ["The Eiffel Tower was completed in 1889."],
    "How tall is the Eiffel Tower?": ["The Eiffel Tower is 330 metres tall."],
    "Where is the Colosseum?": ["The Colosseum is in Rome."],
}


def rows(context: bool = True) -> list[dict[str, Any]]:
    """The dataset: one row per question, its documents as the row's context."""
    return [{"input": q, **({"context": docs} if context else {}), "expected": docs[0]} for q, docs in FACTS.items()]


def responder(request: dict[str, Any]) -> str:
    """The app's model repeats its documents (plus an invented sentence when asked to); else: the judge."""
    system: str = request["messages"][0]["content"]
    if not system.startswith(SYSTEM):
        return _judge(request)
    answer = system[len(SYSTEM) :].replace("INVENT", "")
    return answer + (" It was built by aliens." if "INVENT" in system else "")


def configure(base_url: str) -> None:
    """Point the apps at a fake provider (``close()`` when done)."""
    _state["client"] = OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0)
    _state["base_url"] = base_url


def close() -> None:
    """Close the clients ``configure`` made."""
    client = _state.pop("client", None)
    if client is not None:
        client.close()


def _messages(question: str, invent: bool) -> list[Any]:
    documents = "\n".join(FACTS.get(question, [])) + ("INVENT" if invent else "")
    return [{"role": "system", "content": SYSTEM + documents}, {"role": "user", "content": question}]


def grounded(question: str) -> str:
    """Answers from its documents only."""
    reply = _state["client"].chat.completions.create(model="gpt-4o-mini", messages=_messages(question, False))
    return reply.choices[0].message.content or ""


def inventive(question: str) -> str:
    """Adds an invented sentence to every answer (half of its claims unsupported)."""
    reply = _state["client"].chat.completions.create(model="gpt-4o-mini", messages=_messages(question, True))
    return reply.choices[0].message.content or ""


async def grounded_async(question: str) -> str:
    """``grounded`` as an ``async def``."""
    async with AsyncOpenAI(base_url=_state["base_url"], api_key="sk-fake", max_retries=0) as client:
        reply = await client.chat.completions.create(model="gpt-4o-mini", messages=_messages(question, False))
    return reply.choices[0].message.content or ""


def broken(question: str) -> str:
    """Fails on one question (an app bug the runner must survive and count)."""
    if "Colosseum" in question:
        raise KeyError("no index for Rome")
    return grounded(question)
