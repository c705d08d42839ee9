"""A small LlamaIndex RAG app for the tests, the example and the benchmark.

``HashEmbedding`` is a deterministic local embedding (no model download). ``OpenAIChat`` is a
LlamaIndex chat LLM that calls the real ``openai`` SDK, built the way ``llama-index-llms-openai``'s
``OpenAI`` class is (``llm_chat_callback`` around ``client.chat.completions.create``):
``llama-index-llms-openai`` itself requires ``openai<3`` and cannot be installed next to the
``openai`` 3.x of the test venv (tests/install runs it against openai 2.x). With ``client=None`` it
answers locally, standing for a provider peekr does not patch.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import warnings
from collections.abc import Sequence
from typing import Any

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM

DOCS = [
    ("eiffel", "The Eiffel Tower in Paris is 330 metres tall."),
    ("liberty", "The Statue of Liberty in New York is 93 metres tall."),
    ("fuji", "Mount Fuji in Japan is 3776 metres high."),
]


class HashEmbedding(BaseEmbedding):
    """Bag-of-words vectors from hashed words: deterministic, local, no download."""

    dimensions: int = 64

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for word in text.lower().split():
            word = word.strip(".,?!")
            vector[int(hashlib.sha1(word.encode()).hexdigest(), 16) % self.dimensions] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)


class OpenAIChat(CustomLLM):
    """A chat LLM over the ``openai`` SDK (``client``/``aclient``), or answering locally without one."""

    model: str = "gpt-4o-mini"
    client: Any = None
    aclient: Any = None

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=self.model, is_chat_model=True)

    def _answer(self, response: Any) -> ChatResponse:
        usage = response.usage
        return ChatResponse(
            message=ChatMessage(role="assistant", content=response.choices[0].message.content),
            raw=response,
            additional_kwargs={"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens},
        )

    @staticmethod
    def _messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
        return [{"role": m.role.value, "content": m.content} for m in messages]

    def _local(self, messages: Sequence[ChatMessage]) -> ChatResponse:
        text = f"Local: {messages[-1].content}"
        return ChatResponse(
            message=ChatMessage(role="assistant", content=text),
            additional_kwargs={"prompt_tokens": 7, "completion_tokens": 5},
        )

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        if self.client is None:
            return self._local(messages)
        return self._answer(self.client.chat.completions.create(model=self.model, messages=self._messages(messages)))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        if self.aclient is None:
            return self._local(messages)
        response = await self.aclient.chat.completions.create(model=self.model, messages=self._messages(messages))
        return self._answer(response)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=str(self.chat([ChatMessage(role="user", content=prompt)]).message.content))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """Local answers only: the reply word by word."""
        text = self._local(messages).message.content or ""

        def gen() -> ChatResponseGen:
            so_far = ""
            for word in text.split(" "):
                delta = (" " if so_far else "") + word
                so_far += delta
                yield ChatResponse(message=ChatMessage(role="assistant", content=so_far), delta=delta)

        return gen()

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        raise NotImplementedError


def make_index(embedding: BaseEmbedding | None = None) -> VectorStoreIndex:
    """An in-memory vector index over ``DOCS``."""
    documents = [Document(text=text, id_=doc_id, metadata={"source": doc_id}) for doc_id, text in DOCS]
    return VectorStoreIndex.from_documents(documents, embed_model=embedding or HashEmbedding())


def close_event_loop() -> None:
    """Close the loop LlamaIndex's sync API leaves open (``asyncio_run`` uses ``asyncio.get_event_loop()``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:  # no loop set here
            return
    if not loop.is_running():
        loop.close()
        asyncio.set_event_loop_policy(None)  # a fresh policy: no current loop, one is made on demand
