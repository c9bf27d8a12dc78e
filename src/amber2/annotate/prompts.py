"""Annotator presets (prompt templates, focus lines, temperature bands, class synonyms) and prompts.

A preset is configuration, not code: a YAML file checked by :class:`AnnotatorPreset` (pydantic). The
package ships ``presets/default.yaml`` (the method of docs/annotators.md); ``amber2 annotate --preset
FILE`` takes any other file of the same form.

A prompt is one system turn and one user turn; the user turn names the classes, carries the transcript
(or says there is none and asks to rely on the audio) and the annotator's focus line, and asks for the
single most dominant emotion, answered with its name only.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["DEFAULT_PRESET", "AnnotatorPreset", "Prompt", "build_prompt", "load_preset"]

#: Name of the preset shipped with the package.
DEFAULT_PRESET = "default"

_WITH = {"classes", "focus", "transcript"}
_WITHOUT = {"classes", "focus"}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


class AnnotatorPreset(BaseModel):
    """Everything that defines the synthetic annotators apart from the model that answers.

    Attributes:
        name: Preset name (recorded with the votes).
        version: Bumped when the wording changes (the cache keys on the prompt text itself, not on this).
        system: System turn.
        user_with_transcript: User turn for an item with a transcript (``{classes}``, ``{focus}``,
            ``{transcript}``).
        user_without_transcript: User turn for an item without (``{classes}``, ``{focus}``).
        focus: Focus lines; annotator ``i`` uses ``focus[i % len(focus)]``.
        temperature_bands: ``[low, high]`` bands; annotator ``i`` draws in band ``i % len(bands)``.
        jitter: Half-width of the uniform jitter added to the in-band draw.
        clip: ``[low, high]`` range the temperature is clipped to.
        display_names: How a canonical class name is written in the prompt.
        synonyms: Other words a reply may use for a class.
        max_tokens: Longest answer asked for, in tokens (1-256).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    version: int = Field(ge=1)
    system: str = Field(min_length=1)
    user_with_transcript: str
    user_without_transcript: str
    focus: tuple[str, ...] = Field(min_length=1)
    temperature_bands: tuple[tuple[float, float], ...] = Field(min_length=1)
    jitter: float = Field(ge=0.0, le=1.0)
    clip: tuple[float, float]
    display_names: dict[str, str] = Field(default_factory=dict)
    synonyms: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    max_tokens: int = Field(ge=1, le=256)

    @field_validator("user_with_transcript")
    @classmethod
    def _check_with(cls, v: str) -> str:
        bad = _fields(v) - _WITH
        if bad or "transcript" not in _fields(v):
            raise ValueError(f"user_with_transcript must use {{transcript}} and only {sorted(_WITH)}; "
                             f"unknown placeholders {sorted(bad)}")
        return v

    @field_validator("user_without_transcript")
    @classmethod
    def _check_without(cls, v: str) -> str:
        bad = _fields(v) - _WITHOUT
        if bad:
            raise ValueError(f"user_without_transcript may use only {sorted(_WITHOUT)}; "
                             f"unknown placeholders {sorted(bad)}")
        return v

    @field_validator("temperature_bands")
    @classmethod
    def _check_bands(cls, v: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        for lo, hi in v:
            if not 0.0 <= lo <= hi <= 2.0:
                raise ValueError(f"temperature band [{lo}, {hi}] must satisfy 0 <= low <= high <= 2")
        return v

    @model_validator(mode="after")
    def _check_clip(self) -> AnnotatorPreset:
        lo, hi = self.clip
        if not 0.0 < lo <= hi <= 2.0:
            raise ValueError(f"clip [{lo}, {hi}] must satisfy 0 < low <= high <= 2")
        return self

    def display(self, cls_name: str) -> str:
        """How ``cls_name`` is shown in the prompt (its display name, else itself)."""
        return self.display_names.get(cls_name, cls_name)

    def terms(self, cls_name: str) -> tuple[str, ...]:
        """Lower-case words that name ``cls_name``: itself, its display name, then its synonyms."""
        out: list[str] = []
        for t in (cls_name, self.display(cls_name), *self.synonyms.get(cls_name, ())):
            t = t.strip().lower()
            if t and t not in out:
                out.append(t)
        return tuple(out)


def load_preset(preset: str | os.PathLike[str] | AnnotatorPreset | None = None) -> AnnotatorPreset:
    """Load a preset: a shipped preset by name (``default``), a YAML file, or pass one through.

    Raises:
        FileNotFoundError: No shipped preset of that name and no such file.
        ValueError: The file is not valid YAML or does not describe a valid preset (pydantic's message
            names the field).
    """
    import yaml

    if isinstance(preset, AnnotatorPreset):
        return preset
    name = DEFAULT_PRESET if preset is None else os.fspath(preset)
    shipped = resources.files("amber2.annotate") / "presets" / f"{name}.yaml"
    if shipped.is_file():
        text, where = shipped.read_text(encoding="utf-8"), f"shipped preset {name!r}"
    else:
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"no annotator preset {name!r}: neither a shipped preset "
                                    f"({DEFAULT_PRESET!r}) nor a YAML file")
        text, where = path.read_text(encoding="utf-8"), str(path)
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping of preset fields")
    try:
        return AnnotatorPreset.model_validate(data)
    except Exception as exc:  # pydantic.ValidationError: keep its field-by-field message
        raise ValueError(f"{where}: invalid annotator preset: {exc}") from None


@dataclass(frozen=True)
class Prompt:
    """The two turns sent for one vote."""

    system: str
    user: str


def build_prompt(preset: AnnotatorPreset, classes: list[str] | tuple[str, ...], focus: str,
                 transcript: str | None) -> Prompt:
    """The prompt of one annotator for one item.

    Args:
        preset: The annotator preset.
        classes: Canonical class names of the annotated set (shown by their display names).
        focus: The annotator's focus line.
        transcript: The item's transcript; None or blank switches to the audio-only wording.

    Returns:
        The system and user turns.
    """
    names = ", ".join(preset.display(c) for c in classes)
    text = None if transcript is None else str(transcript).strip()
    if text:
        user = preset.user_with_transcript.format(classes=names, focus=focus, transcript=text)
    else:
        user = preset.user_without_transcript.format(classes=names, focus=focus)
    return Prompt(system=preset.system.strip(), user=user)
