"""An app to evaluate offline: a RAG answer function, and the CI gate that checks it.

``answer(question)`` is the app: it retrieves documents and asks a chat model (here the fake
provider; one answer in six adds a sentence its documents do not support). The gate, from the
repository root::

    peekr eval run examples/rag_eval.jsonl --app examples.rag_eval_app:answer \\
        --evaluator hallucination --evaluator not_empty --min hallucination=0.8 --report eval-report.html

exits 0 (mean hallucination score ≈ 0.93), and 1 with ``--min hallucination=0.95``. Running this file
(``python examples/rag_eval_app.py``) does the same through the Python API (``peekr.testing.evaluate``).
Everything is offline: importing this module starts the fake provider, which also plays the judge.
"""

from __future__ import annotations

import atexit
import json
import os
import re
from pathlib import Path
from typing import Any

from openai import OpenAI

from peekr.evaluators._fake_judge import FakeJudge  # a deterministic judge for offline demos
from peekr.testing.fake_provider import FakeProvider

DATASET = Path(__file__).with_name("rag_eval.jsonl")
DOCUMENTS = [doc for line in DATASET.read_text(encoding="utf-8").splitlines() for doc in json.loads(line)["context"]]
SYSTEM = "Answer from these documents only:\n"
_judge = FakeJudge()


def _model(request: dict[str, Any]) -> str:
    """The 'model': repeats the documents, and invents a sentence for one question in six."""
    system = request["messages"][0]["content"]
    if not system.startswith(SYSTEM):
        return _judge(request)  # the judge's calls
    documents = system[len(SYSTEM) :].splitlines()
    question = request["messages"][-1]["content"]
    invented = " It is the oldest city in the world." if len(question) % 6 == 0 else ""
    return " ".join(documents) + invented


_fake = FakeProvider(chat_responder=_model).start()
atexit.register(_fake.stop)
os.environ.setdefault("OPENAI_BASE_URL", _fake.openai_base_url)  # the judge's endpoint too
os.environ.setdefault("OPENAI_API_KEY", "sk-fake")
_client = OpenAI(base_url=_fake.openai_base_url, api_key="sk-fake", max_retries=0)


def retrieve(question: str) -> list[str]:
    """A keyword retriever over the documents: the ones naming the country, then their capital."""
    country = re.search(r"capital of (.+?) and", question)
    first = [d for d in DOCUMENTS if country and d.startswith(f"The capital of {country.group(1)} is")][:1]
    capital = first[0].rsplit(" is ", 1)[1].rstrip(".") if first else ""
    return first + [d for d in DOCUMENTS if capital and d.startswith(capital + " lies")][:1]


def answer(question: str) -> str:
    """The app under evaluation."""
    documents = retrieve(question)
    reply = _client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": SYSTEM + "\n".join(documents)}, {"role": "user", "content": question}],
    )
    return reply.choices[0].message.content or ""


def main() -> None:
    import peekr
    from peekr.testing import evaluate

    report = evaluate(
        DATASET,
        answer,
        [peekr.eval.Hallucination(model="gpt-4o-mini", base_url=_fake.openai_base_url, api_key="sk-fake"),
         peekr.eval.NotEmpty()],
        db="eval-run.db",
    )  # fmt: skip
    print(f"{report.rows} rows, {report.app_errors} app errors")
    for name, score in report.scores.items():
        print(f"{name}: mean {score.mean:.3f} (95% CI {score.low:.3f}-{score.high:.3f}, n={score.n})")
    report.assert_min(hallucination=0.8, not_empty=1.0)
    print("gate passed")


if __name__ == "__main__":
    main()
