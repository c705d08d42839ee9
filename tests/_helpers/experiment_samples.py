"""Synthetic traces for the experiment and cost tests: A/B arms with known effects, and priced/unpriced calls.

Write them through the real sinks with :func:`trace_files.write_db` / :func:`trace_files.write_jsonl`.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Literal

from _cli_sample import Sample

from peekr._events import EvalResult, Feedback
from peekr._span import Span, iso_utc

EXP_T0 = time.time_ns() - 3600 * 10**9


@dataclass
class Arm:
    """How one variant behaves: log-normal latency and cost, a Bernoulli error rate, a score, feedback."""

    latency_ms: float = 800.0
    cost: float = 0.001
    tokens: int = 500
    error_rate: float = 0.05
    score: float = 0.8
    good_rate: float = 0.7


def experiment_sample(arms: dict[str, Arm], n: int, seed: int, *, name: str = "prompt-v2") -> Sample:
    rng = random.Random(seed)
    sample = Sample()
    counter = 0
    for variant, arm in arms.items():
        for _ in range(n):
            counter += 1
            trace = f"{seed:08x}{counter:024x}"
            span_id = f"{counter:016x}"
            ms = arm.latency_ms * math.exp(rng.gauss(0, 0.4))
            start = EXP_T0 + counter * 10**7
            attrs = {
                "model": "gpt-4o-mini",
                "provider": "openai",
                "experiment": name,
                "experiment_variant": variant,
                "tokens_total": max(1, int(rng.gauss(arm.tokens, arm.tokens / 10))),
                "cost_usd": arm.cost * math.exp(rng.gauss(0, 0.3)),
            }
            sample.spans.append(
                Span(
                    trace_id=trace,
                    span_id=span_id,
                    name="openai.chat.completions",
                    start_time=iso_utc(start),
                    end_time=iso_utc(start + int(ms * 1e6)),
                    duration_ms=ms,
                    status="error" if rng.random() < arm.error_rate else "ok",
                    attributes=attrs,  # type: ignore[arg-type]
                )
            )
            score = min(1.0, max(0.0, rng.gauss(arm.score, 0.15)))
            sample.evals.append(
                EvalResult(
                    span_id=span_id,
                    trace_id=trace,
                    evaluator="hallucination",
                    status="ok",
                    scores={"hallucination": score},
                    created_at=iso_utc(start + 10**9),
                )
            )
            if rng.random() < 0.5:
                rating: Literal["good", "bad"] = "good" if rng.random() < arm.good_rate else "bad"
                sample.feedback.append(Feedback(trace_id=trace, rating=rating, created_at=iso_utc(start + 2 * 10**9)))
    # A span of another experiment and a user span of this one (not an LLM call): both left out.
    other = sample.spans[0].model_copy(
        update={"span_id": "f" * 16, "attributes": {**sample.spans[0].attributes, "experiment": "other"}}
    )
    user = sample.spans[0].model_copy(
        update={"span_id": "e" * 16, "name": "handler", "attributes": {"experiment": name, "experiment_variant": "A"}}
    )
    sample.spans += [other, user]
    return sample


DAY_NS = 86400 * 10**9
T0 = (time.time_ns() // DAY_NS - 3) * DAY_NS  # midnight UTC three days ago


def cost_sample(n: int = 600, seed: int = 4) -> Sample:
    rng = random.Random(seed)
    sample = Sample()
    for i in range(n):
        model = rng.choice(["gpt-4o-mini", "gpt-4o", "claude-sonnet-4", "my-finetune"])
        attrs: dict[str, object] = {
            "model": model,
            "tokens_input": rng.randint(1, 4000),
            "tokens_output": rng.randint(1, 800),
            "user_id": f"u{rng.randint(1, 9)}",
            "feature": rng.choice(["search", "chat"]),
        }
        attrs["tokens_total"] = attrs["tokens_input"] + attrs["tokens_output"]  # type: ignore[operator]
        if model != "my-finetune":  # no price known: unpriced, never $0
            attrs["cost_usd"] = rng.random() / 97  # awkward floats: naive summation would drift
        start = T0 + i * (3 * DAY_NS // n)
        sample.spans.append(
            Span(
                trace_id=f"{i:032x}",
                span_id=f"{i:016x}",
                name="llm",
                start_time=iso_utc(start),
                end_time=iso_utc(start + 10**6),
                duration_ms=1.0,
                tenant_id=rng.choice(["acme", "globex", None]),
                attributes=attrs,  # type: ignore[arg-type]
            )
        )
    # A call that failed before the provider answered: no tokens, no cost; a call, but not "unpriced".
    failed = sample.spans[1].model_copy(
        update={"span_id": "d" * 16, "status": "error", "attributes": {"model": "gpt-4o", "user_id": "u1"}}
    )
    sample.spans.append(failed)
    # A user span (no model, no cost): not an LLM call.
    sample.spans.append(sample.spans[0].model_copy(update={"span_id": "f" * 16, "name": "handler", "attributes": {}}))
    return sample
