"""The callback handler: LangChain run events -> peekr spans.

Parenting: a run's span is the child of its parent run's span (``parent_run_id``), else of the
current span (a ``peekr.span()`` or request around the LangChain call). Provider and vector-store
spans started inside a run find it through :meth:`PeekrCallbackHandler.innermost_run`: the run
whose child config LangChain has put in ``var_child_runnable_config`` here (LangChain sets and
resets that context itself), or an open retriever run (retrievers set no child config). The
handler never changes peekr's current span (see ``peekr/integrations/_framework.py`` for why).
LangChain calls this handler inline (``run_inline``), in the run's own context, sync and async.

Open runs are bounded (``MAX_OPEN_RUNS``); past that the oldest is given up and counted under
``("integrations.langchain", "open_runs_limit")`` in ``peekr.stats().dropped``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables.config import var_child_runnable_config

from ..._capture import capture
from ..._context import SpanContextLike, _current_span
from ..._errors import checkpoint, handle_internal_errors
from ..._runtime import get_runtime, record_dropped
from ..._tracer import ActiveSpan, SampledOutSpan, begin_span
from .._framework import PendingLLM, _llm_run, add_parent_resolver
from .._retrieval import document, retrieval_attribute

__all__ = ["MAX_AGENT_ACTIONS", "MAX_OPEN_RUNS", "PeekrCallbackHandler"]

MAX_OPEN_RUNS = 10_000
MAX_AGENT_ACTIONS = 100
_HIDDEN_TAG = "langsmith:hidden"
_REQUEST_KEYS = ("temperature", "max_tokens", "max_completion_tokens", "top_p", "seed", "n", "stream")


#: The open retriever run here (retrievers set no child config); ended spans are ignored when read.
_retriever_run: ContextVar[ActiveSpan | None] = ContextVar("peekr_langchain_retriever", default=None)


class _Run:
    __slots__ = ("parent", "pending", "previous", "previous_llm", "prompt", "span")

    def __init__(self, span: ActiveSpan | None, parent: SpanContextLike | None) -> None:
        self.span = span
        self.parent = parent  # what children attach to when this run has no span (hidden runs)
        self.previous: ActiveSpan | None = None  # the open retriever before this one (retriever runs)
        self.pending: PendingLLM | None = None
        self.previous_llm: PendingLLM | None = None
        self.prompt: Any = None  # an LLM run's input, captured only if the run is recorded


def _run_name(serialized: Any, kwargs: Mapping[str, Any], default: str) -> str:
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if isinstance(serialized, Mapping):
        if isinstance(serialized.get("name"), str):
            return str(serialized["name"])
        ids = serialized.get("id")
        if isinstance(ids, list) and ids and isinstance(ids[-1], str):
            return ids[-1]
    return default


def _set_captured(attributes: dict[str, Any], key: str, value: Any) -> None:
    captured = capture(value)
    if captured is not None:
        attributes[key] = captured


def _messages(messages: Sequence[Sequence[Any]]) -> Any:
    """Chat messages in the common (OpenAI) message shape; one list per prompt of the batch."""
    from langchain_core.messages import convert_to_openai_messages

    converted = [convert_to_openai_messages(list(batch)) for batch in messages]
    return converted[0] if len(converted) == 1 else converted


def _usage(response: Any) -> dict[str, int]:
    """Token counts from the framework's usage metadata (AIMessage.usage_metadata, else llm_output)."""
    for generations in getattr(response, "generations", None) or ():
        for generation in generations:
            usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
            if isinstance(usage, Mapping):
                out = {
                    "tokens_input": int(usage.get("input_tokens") or 0),
                    "tokens_output": int(usage.get("output_tokens") or 0),
                    "tokens_total": int(usage.get("total_tokens") or 0),
                }
                cache = (usage.get("input_token_details") or {}).get("cache_read")
                reasoning = (usage.get("output_token_details") or {}).get("reasoning")
                if isinstance(cache, int) and cache:
                    out["tokens_cache_read"] = cache
                if isinstance(reasoning, int) and reasoning:
                    out["tokens_reasoning"] = reasoning
                return out
    llm_output = getattr(response, "llm_output", None)
    usage = llm_output.get("token_usage") if isinstance(llm_output, Mapping) else None
    if isinstance(usage, Mapping):
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(prompt, int) and isinstance(completion, int):
            return {"tokens_input": prompt, "tokens_output": completion, "tokens_total": prompt + completion}
    return {}


def _generation_output(response: Any) -> tuple[Any, str | None, str | None]:
    """(output, finish reason, model) of the first generation."""
    generations = getattr(response, "generations", None) or ()
    first = generations[0][0] if generations and generations[0] else None
    if first is None:
        return None, None, None
    message = getattr(first, "message", None)
    info = getattr(first, "generation_info", None) or {}
    metadata = getattr(message, "response_metadata", None) or {}
    finish = info.get("finish_reason") or metadata.get("finish_reason") or metadata.get("stop_reason")
    model = metadata.get("model_name") or metadata.get("model")
    if message is not None:
        from langchain_core.messages import convert_to_openai_messages

        output: Any = convert_to_openai_messages(message)
    else:
        output = getattr(first, "text", None)
    return output, finish if isinstance(finish, str) else None, model if isinstance(model, str) else None


class PeekrCallbackHandler(BaseCallbackHandler):
    """Turns LangChain run events into peekr spans (see the module docstring)."""

    run_inline = True  # called in the run's own context (async: not in an executor thread)
    raise_error = False

    def __init__(self) -> None:
        super().__init__()
        self._runs: OrderedDict[UUID, _Run] = OrderedDict()
        self._lock = threading.Lock()
        add_parent_resolver(self.innermost_run)

    def innermost_run(self) -> ActiveSpan | SampledOutSpan | None:
        """The span of the innermost open LangChain run here (for provider and store spans), or None."""
        config = var_child_runnable_config.get()
        run_id = getattr(config.get("callbacks"), "parent_run_id", None) if isinstance(config, dict) else None
        span: Any = None
        if run_id is not None:
            with self._lock:
                run = self._runs.get(run_id)
            if run is not None:
                span = run.span if run.span is not None else run.parent
        retriever = _retriever_run.get()
        if retriever is not None and retriever.is_recording:
            if not isinstance(span, ActiveSpan) or retriever._start_perf > span._start_perf:
                return retriever
        return span if isinstance(span, (ActiveSpan, SampledOutSpan)) else None

    # -- bookkeeping ------------------------------------------------------------------------------

    def _parent(self, parent_run_id: UUID | None) -> tuple[bool, SpanContextLike | None]:
        """(known, parent): the span of the parent run, or (False, None) to use the current span."""
        if parent_run_id is None:
            return False, None
        with self._lock:
            parent = self._runs.get(parent_run_id)
        if parent is None:
            return False, None
        return True, parent.span if parent.span is not None else parent.parent

    def _is_node(self, run_id: UUID | None, name: str) -> bool:
        """True when run ``run_id`` is the graph node ``name`` (a runnable given as a node has its own run)."""
        with self._lock:
            run = self._runs.get(run_id) if run_id is not None else None
        span = run.span if run is not None else None
        return span is not None and span.name == "langgraph.node" and span.attributes.get("run_name") == name

    def _store(self, run_id: UUID, run: _Run) -> None:
        evicted = 0
        with self._lock:
            self._runs[run_id] = run
            while len(self._runs) > MAX_OPEN_RUNS:
                self._runs.popitem(last=False)
                evicted += 1
        if evicted:
            record_dropped("integrations.langchain", "open_runs_limit", evicted)

    def _start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: Sequence[str] | None,
        name: str,
        attributes: dict[str, Any],
    ) -> _Run | None:
        known, parent = self._parent(parent_run_id)
        if tags and _HIDDEN_TAG in tags:
            self._store(run_id, _Run(None, parent if known else self.innermost_run() or _current_span.get()))
            return None
        span: ActiveSpan | SampledOutSpan | None
        runtime = get_runtime()
        if known and type(parent) is SampledOutSpan and runtime is not None:
            span = parent.child(runtime)  # under a sampled-out run: dropped with it
        elif known and parent is not None:
            span = begin_span(name, attributes, trace_id=parent.trace_id, parent_id=parent.span_id)
        else:
            span = begin_span(name, attributes)
        if span is None:  # peekr is not running, or instrumentation is suppressed here
            return None
        if type(span) is SampledOutSpan:  # sampled out: a hidden run its children and calls attach to
            self._store(run_id, _Run(None, span))
            return None
        assert type(span) is ActiveSpan
        run = _Run(span, span)
        self._store(run_id, run)
        return run

    def _pop(self, run_id: UUID) -> _Run | None:
        with self._lock:
            return self._runs.pop(run_id, None)

    def _end(self, run_id: UUID, key: str | None, value: Any, error: BaseException | None = None) -> None:
        run = self._pop(run_id)
        if run is None or run.span is None:
            return
        if key is not None:
            _set_captured(run.span.attributes, key, value)
        if isinstance(error, GeneratorExit):  # a stream the caller closed early: not a failure
            error = None
        run.span.end(error=error)

    @staticmethod
    def _base(kind: str, name: str, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
        attributes: dict[str, Any] = {"kind": kind, "framework": "langchain", "run_name": name}
        if metadata:
            step = metadata.get("langgraph_step")
            if isinstance(step, int):
                attributes["langgraph_step"] = step
        return attributes

    # -- chains, graph nodes, agents -------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A chain / runnable / graph / graph-node run starts."""
        with handle_internal_errors("langchain.on_chain_start"):
            checkpoint("langchain.on_chain_start")
            name = _run_name(serialized, kwargs, "chain")
            node = metadata.get("langgraph_node") if metadata else None
            if node is not None and node == name and not self._is_node(parent_run_id, name):
                span_name, attributes = "langgraph.node", self._base("graph_node", name, metadata)
                attributes["framework"] = "langgraph"
            else:
                span_name, attributes = "langchain.chain", self._base("chain", name, metadata)
            _set_captured(attributes, "input", inputs)
            self._start(run_id, parent_run_id, tags, span_name, attributes)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A chain run ends."""
        with handle_internal_errors("langchain.on_chain_end"):
            checkpoint("langchain.on_chain_end")
            self._end(run_id, "output", outputs)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A chain run fails (its exception passes through LangChain untouched)."""
        with handle_internal_errors("langchain.on_chain_error"):
            checkpoint("langchain.on_chain_error")
            self._end(run_id, None, None, error)

    def on_agent_action(self, action: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """The chain run is an agent: rename its span, list the actions it takes (bounded)."""
        with handle_internal_errors("langchain.on_agent_action"):
            checkpoint("langchain.on_agent_action")
            with self._lock:
                run = self._runs.get(run_id)
            if run is None or run.span is None:
                return
            run.span.name = "langchain.agent"
            attributes = run.span.attributes
            attributes["kind"] = "agent"
            actions = attributes.setdefault("agent_actions", [])
            if len(actions) < MAX_AGENT_ACTIONS:
                entry: dict[str, Any] = {"tool": str(getattr(action, "tool", ""))}
                _set_captured(entry, "tool_input", getattr(action, "tool_input", None))
                actions.append(entry)

    def on_agent_finish(self, finish: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """The agent's final answer (the chain run ends separately)."""
        with handle_internal_errors("langchain.on_agent_finish"):
            checkpoint("langchain.on_agent_finish")
            with self._lock:
                run = self._runs.get(run_id)
            if run is not None and run.span is not None:
                _set_captured(run.span.attributes, "agent_output", getattr(finish, "return_values", None))

    # -- tools ------------------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A tool run starts."""
        with handle_internal_errors("langchain.on_tool_start"):
            checkpoint("langchain.on_tool_start")
            name = _run_name(serialized, kwargs, "tool")
            attributes = self._base("tool", name, metadata)
            _set_captured(attributes, "input", inputs if inputs is not None else input_str)
            self._start(run_id, parent_run_id, tags, "langchain.tool", attributes)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A tool run ends (a ToolMessage is recorded as its content)."""
        with handle_internal_errors("langchain.on_tool_end"):
            checkpoint("langchain.on_tool_end")
            content = getattr(output, "content", output)
            self._end(run_id, "output", content)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A tool run fails."""
        with handle_internal_errors("langchain.on_tool_error"):
            checkpoint("langchain.on_tool_error")
            self._end(run_id, None, None, error)

    # -- retrievers -------------------------------------------------------------------------------

    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A retriever run starts: a retrieval span with the query."""
        with handle_internal_errors("langchain.on_retriever_start"):
            checkpoint("langchain.on_retriever_start")
            name = _run_name(serialized, kwargs, "retriever")
            attributes = self._base("retrieval", name, metadata)
            attributes["retrieval"] = retrieval_attribute(query, None, ())
            run = self._start(run_id, parent_run_id, tags, "langchain.retriever", attributes)
            if run is not None:
                run.previous = _retriever_run.get()
                _retriever_run.set(run.span)

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        """A retriever run ends: its documents in the shared retrieval shape."""
        with handle_internal_errors("langchain.on_retriever_end"):
            checkpoint("langchain.on_retriever_end")
            run = self._pop(run_id)
            if run is None or run.span is None:
                return
            if _retriever_run.get() is run.span:
                _retriever_run.set(run.previous)
            retrieval = run.span.attributes.get("retrieval") or {}
            docs = []
            for doc in documents:
                metadata = getattr(doc, "metadata", None) or {}
                score = metadata.get("score", metadata.get("relevance_score"))
                docs.append(document(getattr(doc, "id", None), score, getattr(doc, "page_content", None), metadata))
            value = retrieval_attribute(None, retrieval.get("top_k"), docs)
            if "query" in retrieval:
                value["query"] = retrieval["query"]
            run.span.attributes["retrieval"] = value
            run.span.end()

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A retriever run fails."""
        with handle_internal_errors("langchain.on_retriever_error"):
            checkpoint("langchain.on_retriever_error")
            self._end(run_id, None, None, error)

    # -- LLMs -------------------------------------------------------------------------------------

    def _llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompt: Any,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        kwargs: dict[str, Any],
    ) -> None:
        name = _run_name(serialized, kwargs, "llm")
        attributes = self._base("llm", name, metadata)
        metadata = metadata or {}
        params = kwargs.get("invocation_params") or {}
        provider = metadata.get("ls_provider")
        attributes["provider"] = provider if isinstance(provider, str) else "langchain"
        model = metadata.get("ls_model_name") or params.get("model") or params.get("model_name")
        if isinstance(model, str):
            attributes["model"] = model
        request = {k: params[k] for k in _REQUEST_KEYS if isinstance(params.get(k), (int, float, bool))}
        if request:
            attributes["request"] = request
        run = self._start(run_id, parent_run_id, tags, "langchain.llm", attributes)
        if run is not None:
            run.prompt = prompt
            run.pending = PendingLLM()
            run.previous_llm = _llm_run.get()
            _llm_run.set(run.pending)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A chat model run starts (recorded only if no provider span appears inside it)."""
        with handle_internal_errors("langchain.on_chat_model_start"):
            checkpoint("langchain.on_chat_model_start")
            self._llm_start(serialized, messages, run_id, parent_run_id, tags, metadata, kwargs)

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A completion-style LLM run starts."""
        with handle_internal_errors("langchain.on_llm_start"):
            checkpoint("langchain.on_llm_start")
            prompt = prompts[0] if len(prompts) == 1 else prompts
            self._llm_start(serialized, prompt, run_id, parent_run_id, tags, metadata, kwargs)

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A streamed token: time to first token, ``stream=True``."""
        with handle_internal_errors("langchain.on_llm_new_token"):
            checkpoint("langchain.on_llm_new_token")
            with self._lock:
                run = self._runs.get(run_id)
            if run is not None and run.span is not None and "ttft_ms" not in run.span.attributes:
                run.span.mark_first_token()
                run.span.attributes["stream"] = True

    @staticmethod
    def _capture_prompt(run: _Run) -> None:
        """The recorded LLM run's input: chat messages in the common (OpenAI) shape, or the prompt(s)."""
        prompt = run.prompt
        if run.span is None or prompt is None:
            return
        is_chat = isinstance(prompt, list) and all(isinstance(batch, list) for batch in prompt)
        _set_captured(run.span.attributes, "input", _messages(prompt) if is_chat else prompt)

    def _llm_pop(self, run_id: UUID) -> _Run | None:
        run = self._pop(run_id)
        if run is not None and run.pending is not None and _llm_run.get() is run.pending:
            _llm_run.set(run.previous_llm)
        return run

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """An LLM run ends: dropped when a provider span recorded the call, else ended with usage."""
        with handle_internal_errors("langchain.on_llm_end"):
            checkpoint("langchain.on_llm_end")
            run = self._llm_pop(run_id)
            if run is None or run.span is None:
                return
            if run.pending is not None and run.pending.covered:
                run.span.discard()  # a provider span recorded the call (and a held trace stops waiting for this one)
                return
            attributes = run.span.attributes
            self._capture_prompt(run)
            output, finish, model = _generation_output(response)
            _set_captured(attributes, "output", output)
            if finish is not None:
                attributes["finish_reason"] = finish
            if model is not None:
                attributes["model"] = model
            attributes.update(_usage(response))
            run.span.end()

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """An LLM run fails: recorded unless a provider span recorded the failed call."""
        with handle_internal_errors("langchain.on_llm_error"):
            checkpoint("langchain.on_llm_error")
            run = self._llm_pop(run_id)
            if run is None or run.span is None:
                return
            if run.pending is not None and run.pending.covered:
                run.span.discard()  # a provider span recorded the call (and a held trace stops waiting for this one)
                return
            self._capture_prompt(run)
            run.span.end(error=None if isinstance(error, GeneratorExit) else error)
