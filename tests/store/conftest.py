"""Fixtures for the local-data tests: the sample trace files of :mod:`trace_files`."""

from __future__ import annotations

from trace_files import _written, sample, traces, traces_db, traces_jsonl  # noqa: F401 (fixtures)
