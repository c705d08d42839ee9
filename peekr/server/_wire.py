"""Wire format v1: what ``POST /v1/ingest`` accepts and answers (see docs/wire-format.md).

The body is one JSON object with three arrays of records. Records are validated one by one
on the server, so a bad span rejects that span only (partial success), never the batch.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "WIRE_VERSION",
    "ErrorBody",
    "ErrorDetail",
    "IngestRequest",
    "IngestResponse",
    "RecordKind",
    "RejectedRecord",
]

#: Version of the JSON body; bumped only for incompatible changes (new optional fields are not).
WIRE_VERSION = 1

RecordKind = Literal["spans", "eval_results", "feedback"]


class IngestRequest(BaseModel):
    """The ingest body. Records stay untyped here: each is validated on its own."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = Field(description="Wire format version; 1 is the only one so far.")
    spans: list[dict[str, Any]] = Field(default_factory=list, description="Span records (DESIGN.md 'Span').")
    eval_results: list[dict[str, Any]] = Field(
        default_factory=list, description="Evaluation results (record='eval'), keyed by span_id."
    )
    feedback: list[dict[str, Any]] = Field(
        default_factory=list, description="Human feedback (record='feedback'), keyed by trace_id."
    )


class RejectedRecord(BaseModel):
    """One record the server refused, and why; the rest of the batch was stored."""

    kind: RecordKind
    index: int = Field(description="Position of the record in its array.")
    id: str | None = Field(
        default=None, description="span_id (spans, eval_results) or trace_id (feedback) if readable."
    )
    error: str = Field(description="Why the record was rejected; fix it rather than retrying it.")


class IngestResponse(BaseModel):
    """The answer to an accepted request (HTTP 200), including partial success."""

    version: int = WIRE_VERSION
    accepted: int = Field(description="Records that are now stored: newly stored plus duplicates.")
    stored: int = Field(description="Records stored by this request.")
    duplicates: int = Field(description="Records the server already had (a retried batch); stored once.")
    rejected: list[RejectedRecord] = Field(default_factory=list)


class ErrorDetail(BaseModel):
    """A machine-readable code and a sentence for humans."""

    code: str
    message: str


class ErrorBody(BaseModel):
    """Body of every non-2xx answer."""

    error: ErrorDetail
