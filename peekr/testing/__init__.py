"""Test helpers for peekr users: an in-memory sink, span capture, and a fake provider server.

Example (pytest)::

    from peekr.testing import capture_spans

    def test_my_llm_code():
        with capture_spans() as sink:
            answer_question("hi")
        (span,) = sink.spans
        assert span.attributes["model"] == "gpt-4o-mini"

Score an app over a dataset inside a test suite (the same runner as ``peekr eval run``)::

    from peekr.testing import evaluate

    def test_answers_stay_grounded():
        report = evaluate("tests/rag.jsonl", my_app.answer, [peekr.eval.Hallucination(), peekr.eval.NotEmpty()])
        report.assert_min(hallucination=0.8, not_empty=1.0)

The fake provider (``peekr.testing.fake_provider.FakeProvider``) speaks the OpenAI, Anthropic,
Gemini and Bedrock wire formats on 127.0.0.1, so your code runs with the real SDKs offline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._api import instrument, shutdown
from .._runtime import get_runtime
from ..sinks.memory import InMemorySink

if TYPE_CHECKING:
    from ..evaluators._offline import RunReport

__all__ = ["InMemorySink", "capture_spans", "evaluate"]


@contextmanager
def capture_spans(*, providers: Sequence[str] | None = None, **options: object) -> Iterator[InMemorySink]:
    """Instrument into an ``InMemorySink`` for the block; flush and shut down at the end.

    Args:
        providers: Providers to patch (all installed ones when None).
        **options: Any other ``peekr.instrument()`` argument (``tenant_id``, ``capture_content``...).

    Yields:
        The sink; read ``sink.spans`` after the block (or call ``peekr.flush()`` inside it).

    Raises:
        RuntimeError: peekr is already running (``peekr.instrument()`` was called, or this is a
            nested ``capture_spans()``): the running instance would not record into this sink, and
            shutting it down at the end of the block would stop the outer one.
    """
    if get_runtime() is not None:
        raise RuntimeError(
            "capture_spans(): peekr is already running (peekr.instrument() or an enclosing capture_spans()); "
            "call peekr.shutdown() first, or read the spans from the sink that instance records into"
        )
    sink = InMemorySink()
    instrument(storage="none", sinks=[sink], providers=providers, **options)  # type: ignore[arg-type]
    try:
        yield sink
    finally:
        shutdown()


def evaluate(
    dataset: str | Path | Sequence[dict[str, Any]],
    app: Callable[[Any], Any],
    evaluators: Sequence[Any],
    *,
    db: str | Path | None = None,
    concurrency: int = 4,
) -> RunReport:
    """Call ``app`` on every row of ``dataset``, evaluate the answers, and return the scores.

    Args:
        dataset: A JSONL file (one ``{"input", "expected"?, "context"?}`` per line) or the rows.
        app: ``input -> answer``, sync or async, making its model calls as in production.
        evaluators: ``peekr.eval`` evaluators (``Hallucination()``, ``NotEmpty()``, your own...).
        db: Traces file to write (must not exist); default: a new temporary file.
        concurrency: Rows evaluated at once.

    Returns:
        A ``RunReport``: ``report.scores[name].mean`` / ``.low`` / ``.high`` (95 % interval) and
        ``report.assert_min(name=minimum, ...)``.

    Raises:
        peekr.evaluators._offline.DatasetError: a bad dataset, or peekr already running here.
    """
    import tempfile

    from ..evaluators._offline import load_dataset, run_dataset

    rows = load_dataset(dataset) if isinstance(dataset, (str, Path)) else list(dataset)
    path = Path(db) if db is not None else Path(tempfile.mkdtemp(prefix="peekr-eval-")) / "traces.db"
    return run_dataset(
        rows,
        app,
        evaluators,
        db=path,
        dataset=str(dataset) if isinstance(dataset, (str, Path)) else "rows",
        concurrency=concurrency,
    )
