"""Import-order-proof: ``instrument()`` before LangChain, Chroma or Qdrant is imported still records them
(the tests in this folder import them first). A fresh interpreter, so nothing is imported yet."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, sys
import peekr
from peekr.sinks.memory import InMemorySink

sink = InMemorySink()
peekr.instrument(storage="none", sinks=[sink])
assert "langchain_core" not in sys.modules and "qdrant_client" not in sys.modules

from langchain_core.runnables import RunnableLambda
from qdrant_client import QdrantClient, models

client = QdrantClient(":memory:")
client.create_collection("c", vectors_config=models.VectorParams(size=2, distance=models.Distance.COSINE))

def search(x):
    return client.query_points("c", query=[0.1, 0.2], limit=1).points

RunnableLambda(search).invoke(1)
peekr.flush()
print(json.dumps([[s.name, s.parent_id is None] for s in sink.spans]))
peekr.shutdown()
"""


def test_instrument_before_the_frameworks_are_imported() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        ["qdrant.query_points", False],
        ["langchain.chain", True],
    ]
