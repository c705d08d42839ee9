"""peekr.experiment: deterministic, weighted, balanced assignment; tags on spans; nesting; bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import anyio
import anyio.lowlevel
import pytest

import peekr
from peekr._experiment import assign_variant
from peekr.sinks import InMemorySink

KEYS = [f"user-{i}" for i in range(10_000)]


def _spans(sink: InMemorySink) -> dict[str, peekr.Span]:
    peekr.flush()
    return {s.name: s for s in sink.spans}


@pytest.fixture
def sink() -> InMemorySink:
    sink = InMemorySink()
    peekr.instrument(storage="none", sinks=[sink], providers=[])
    return sink


def test_assignment_is_the_same_in_other_processes_and_hash_seeds() -> None:
    here = [assign_variant("prompt-v2", k, {"A": 1, "B": 2, "C": 1}) for k in KEYS[:500]]
    code = (
        "import json, sys; from peekr._experiment import assign_variant;"
        "print(json.dumps([assign_variant('prompt-v2', f'user-{i}', {'A': 1, 'B': 2, 'C': 1}) for i in range(500)]))"
    )
    for seed in ("0", "12345"):
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": seed}
        )
        assert json.loads(proc.stdout) == here
    # Pinned values: a change of the hash scheme would move every user to another variant.
    keys = ("u1", "u2", "u3", "u4", "u5", "u6")
    assert [assign_variant("prompt-v2", k, ["A", "B"]) for k in keys] == ["A", "B", "A", "B", "B", "B"]


def test_equal_weights_are_balanced_over_10000_keys() -> None:
    counts = Counter(assign_variant("exp", k, ["A", "B"]) for k in KEYS)
    # Binomial(10000, 0.5): sd = 50; 4 sd either side.
    assert abs(counts["A"] - 5000) < 200, counts
    three = Counter(assign_variant("exp3", k, ["A", "B", "C"]) for k in KEYS)
    # Chi-square with 2 degrees of freedom: P(> 13.8) = 0.001.
    chi2 = sum((three[v] - 10_000 / 3) ** 2 / (10_000 / 3) for v in "ABC")
    assert chi2 < 13.8, three


def test_weights_are_honoured() -> None:
    counts = Counter(assign_variant("exp", k, {"control": 0.9, "new": 0.1}) for k in KEYS)
    assert abs(counts["new"] - 1000) < 120, counts  # sd = 30
    counts = Counter(assign_variant("exp", k, {"A": 3, "B": 0, "C": 1}) for k in KEYS)
    assert counts["B"] == 0 and abs(counts["A"] - 7500) < 180, counts


def test_different_experiments_assign_independently() -> None:
    first = [assign_variant("one", k, ["A", "B"]) for k in KEYS[:2000]]
    second = [assign_variant("two", k, ["A", "B"]) for k in KEYS[:2000]]
    same = sum(a == b for a, b in zip(first, second, strict=True))
    assert abs(same - 1000) < 100  # not the same split for every experiment


def test_every_span_inside_carries_variant_and_experiment(sink: InMemorySink) -> None:
    with peekr.session(user_id="u-7"):
        with peekr.experiment("prompt-v2", variants=["A", "B"]) as variant, peekr.span("inside"):
            assert peekr.experiment.current("prompt-v2") == variant
            with peekr.span("child"):
                pass
        with peekr.span("after"):
            pass
    spans = _spans(sink)
    assert variant == assign_variant("prompt-v2", "u-7", ["A", "B"])
    for name in ("inside", "child"):
        assert spans[name].attributes["experiment_variant"] == variant
        assert spans[name].attributes["experiment"] == "prompt-v2"
        assert spans[name].attributes["user_id"] == "u-7"
    assert "experiment" not in spans["after"].attributes and "experiment_variant" not in spans["after"].attributes
    assert peekr.experiment.current("prompt-v2") is None


def test_pii_spans_keep_the_experiment(sink: InMemorySink) -> None:
    """Redaction of retention_class="pii" keeps the experiment's name and variant (they are not content)."""
    with peekr.session(user_id="u-7", retention_class="pii"), peekr.experiment("e", ["A", "B"]) as variant:
        with peekr.span("pii", note="my card is 4111"):
            pass
    attrs = _spans(sink)["pii"].attributes
    assert attrs["experiment"] == "e" and attrs["experiment_variant"] == variant
    assert attrs["note"] != "my card is 4111"  # type: ignore[typeddict-item]


def test_session_id_key_and_callable_key() -> None:
    with peekr.session(session_id="chat-1"):
        with peekr.experiment("e", ["A", "B", "C"], key="session_id") as v:
            assert v == assign_variant("e", "chat-1", ["A", "B", "C"])
    with peekr.experiment("e", ["A", "B", "C"], key=lambda: 12345) as v:
        assert v == assign_variant("e", "12345", ["A", "B", "C"])


@pytest.mark.anyio
async def test_async_with_and_decorators_follow_tasks(sink: InMemorySink) -> None:
    @peekr.experiment("deco", {"A": 1, "B": 1})
    async def handle(name: str) -> str | None:
        with peekr.span(name):
            await anyio.lowlevel.checkpoint()
        return peekr.experiment.current("deco")

    @peekr.experiment("deco-sync", ["X", "Y"], key="session_id")
    def handle_sync() -> str | None:
        with peekr.span("sync"):
            return peekr.experiment.current("deco-sync")

    got: dict[str, str | None] = {}

    async def user(uid: str) -> None:
        async with peekr.session(user_id=uid):
            got[uid] = await handle(f"call-{uid}")

    async with anyio.create_task_group() as tg:
        for uid in ("u1", "u2", "u3", "u4", "u5", "u6"):
            tg.start_soon(user, uid)
    with peekr.session(session_id="s9"):
        sync_variant = handle_sync()
    spans = _spans(sink)
    for uid, variant in got.items():
        assert variant == assign_variant("deco", uid, ["A", "B"])
        assert spans[f"call-{uid}"].attributes["experiment_variant"] == variant
    assert len(set(got.values())) == 2  # both variants were handed out
    assert sync_variant == assign_variant("deco-sync", "s9", ["X", "Y"])
    assert spans["sync"].attributes["experiment"] == "deco-sync"
    async with peekr.session(user_id="u1"):
        async with peekr.experiment("deco", ["A", "B"]) as v:
            assert v == got["u1"]


def test_nesting_inner_wins_like_sessions(sink: InMemorySink) -> None:
    with peekr.session(user_id="u-1"):
        with peekr.experiment("outer", ["A"]):
            with peekr.experiment("inner", ["Z"]), peekr.span("inner-span"):
                assert peekr.experiment.current("outer") == "A"
            with peekr.session(experiment_variant="forced"), peekr.span("session-span"):
                pass
            with peekr.span("outer-span"):
                pass
    spans = _spans(sink)
    assert spans["inner-span"].attributes["experiment"] == "inner"
    assert spans["inner-span"].attributes["experiment_variant"] == "Z"
    assert spans["session-span"].attributes["experiment_variant"] == "forced"
    assert spans["outer-span"].attributes["experiment_variant"] == "A"


def test_works_without_instrument() -> None:
    with peekr.session(user_id="u"), peekr.experiment("e", ["A", "B"]) as v, peekr.span("x"):
        assert v in ("A", "B")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": "", "variants": ["A"]}, ValueError, "non-empty experiment name"),
        ({"name": "e", "variants": []}, ValueError, "needs at least one variant"),
        ({"name": "e", "variants": {}}, ValueError, "needs at least one variant"),
        ({"name": "e", "variants": "AB"}, TypeError, "expects a list of names"),
        ({"name": "e", "variants": ["A", "A"]}, ValueError, "variant 'A' is given twice"),
        ({"name": "e", "variants": ["A", 3]}, TypeError, "variant names must be non-empty strings"),
        ({"name": "e", "variants": {"A": -1, "B": 1}}, ValueError, "weight of 'A' must be a finite number >= 0"),
        ({"name": "e", "variants": {"A": float("nan")}}, ValueError, "weight of 'A'"),
        ({"name": "e", "variants": {"A": "1"}}, ValueError, "weight of 'A'"),
        ({"name": "e", "variants": {"A": 0, "B": 0}}, ValueError, "weights add up to 0"),
        (
            {"name": "e", "variants": ["A"], "key": "email"},
            ValueError,
            "expected 'user_id', 'session_id' or a callable",
        ),
        ({"name": "e", "variants": ["A"], "key": 42}, TypeError, "expects 'user_id', 'session_id' or a callable"),
    ],
)
def test_bad_arguments_fail_at_once(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        peekr.experiment(**kwargs)  # type: ignore[arg-type]


def test_no_key_available_is_a_clear_error() -> None:
    exp = peekr.experiment("e", ["A", "B"])
    with pytest.raises(ValueError, match=r"no key to assign a variant by.*no user_id.*peekr.session\(user_id=...\)"):
        with exp:
            pass
    with peekr.session(user_id="u"), pytest.raises(ValueError, match="no session_id"):
        with peekr.experiment("e", ["A"], key="session_id"):
            pass
    with pytest.raises(ValueError, match="the key callable gave ''"):
        peekr.experiment("e", ["A"], key=lambda: "").assign()
    with pytest.raises(TypeError, match="does not decorate generators"):

        @peekr.experiment("e", ["A"])
        def gen() -> object:
            yield 1


SHARED = peekr.experiment("shared", ["A", "B"])


@pytest.mark.anyio
async def test_one_experiment_object_shared_by_concurrent_tasks(sink: InMemorySink) -> None:
    """A module-level experiment used with `async with` by interleaving tasks keeps each task's variant."""
    got: dict[str, tuple[str, str | None]] = {}

    async def handler(uid: str, delay: float) -> None:
        async with peekr.session(user_id=uid):
            async with SHARED as variant:
                await anyio.sleep(delay)  # the other tasks enter and leave meanwhile
                with peekr.span(f"call-{uid}"):
                    pass
                got[uid] = (variant, peekr.experiment.current("shared"))
            assert peekr.experiment.current("shared") is None

    async with anyio.create_task_group() as tg:
        for i, uid in enumerate(["u1", "u2", "u3", "u4", "u5", "u6"]):
            tg.start_soon(handler, uid, 0.03 - i * 0.005)
    spans = _spans(sink)
    for uid, (variant, current) in got.items():
        assert variant == current == assign_variant("shared", uid, ["A", "B"])
        assert spans[f"call-{uid}"].attributes["experiment_variant"] == variant
