"""The LangChain chain of tests/integrations/frameworks (prompt | ChatOpenAI | parser on the fake provider)
and the span tree one run of it records."""

from __future__ import annotations

from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

from peekr.testing.fake_provider import FakeProvider

CHAIN_TREE = [
    "langchain.chain [RunnableSequence]",
    "  langchain.chain [ChatPromptTemplate]",
    "  openai.chat.completions",
    "  langchain.chain [StrOutputParser]",
]


def make_chain(fake: FakeProvider, model: str = "gpt-4o-mini") -> Any:
    llm = ChatOpenAI(model=model, base_url=fake.openai_base_url, api_key="sk-fake", max_retries=0)  # type: ignore[arg-type]
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", "Tell me about {topic}")])
    return prompt | llm | StrOutputParser()
