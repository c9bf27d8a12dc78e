"""Response models of the web service (they make the OpenAPI schema at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["ErrorResponse", "HealthResponse", "PredictionResponse"]


class PredictionResponse(BaseModel):
    """One clip's prediction (see :class:`amber2.inference.Prediction`)."""

    id: str = Field(description="The upload's file stem")
    ok: bool = Field(description="Always true in a 200 response")
    label: str | None = Field(description="Top class of the distribution")
    confidence: float | None = Field(description="Its probability")
    entropy: float | None = Field(description="Entropy of the distribution in bits (ambiguity), 0..max_entropy")
    max_entropy: float = Field(description="log2 of the number of classes")
    conflict: float | None = Field(description="Modality conflict: JS divergence in bits between the modality "
                                               "heads, 0..1; null with one modality")
    head: str | None = Field(description="The head the distribution comes from (the student, or a fallback)")
    student: str = Field(description="The model's student head")
    partial: bool = Field(description="True when a modality was missing (no transcript) and the student did not run")
    missing: list[str] = Field(description="Modalities without input")
    classes: list[str] = Field(description="Class names in output order")
    distribution: dict[str, float] = Field(description="{class: probability} of the prediction")
    heads: dict[str, dict[str, float]] = Field(description="{head: {class: probability}} for every head that ran")
    transcript: str | None = None
    transcript_source: str | None = Field(None, description="given | asr")
    source: str | None = Field(None, description="The uploaded file's name")
    duration: float | None = Field(None, description="Clip duration in seconds")
    error: str | None = None
    error_reason: str | None = None


class HealthResponse(BaseModel):
    """Service status, the model's description and the limits."""

    status: str
    version: str
    model: dict[str, Any]
    limits: dict[str, Any]
    in_flight: int
    served: int
    errors: int


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body."""

    detail: str = Field(description="What is wrong, naming the file or field")
    error: str = Field(description="Short code: too_large, unsupported_media_type, unreadable, empty_file, "
                                   "too_long, silent, busy, ...")
