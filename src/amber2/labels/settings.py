r"""The settings of a label policy, validated by pydantic (the bottom module of :mod:`amber2.labels`).

A label policy turns raters' votes into target distributions (the paper's Eq. 1,
:math:`y_c = n_c / N`, and its public variants). This module holds only its *settings*: the fields,
their validation and normalisation, the JSON-ready dict and the fingerprint.
:class:`~amber2.labels.policy.LabelPolicy` (which also applies itself to a table and reads/writes
files) builds on it; the engine (:mod:`amber2.labels.apply`) and the result
(:mod:`amber2.labels.labelset`) only need these settings, so every module of the package imports
downwards only: ``settings <- labelset <- apply <- policy <- presets``.

Every invalid setting raises :class:`LabelPolicyError` naming the policy and the field.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_serializer, field_validator, model_validator

from amber2.corpora.raters import SYNTHETIC_KIND
from amber2.utils.fingerprint import hash_json

__all__ = [
    "DUPLICATE_RULES",
    "MULTI_LABEL_RULES",
    "OUT_OF_SET_RULES",
    "SELECTION_RULES",
    "VOTE_SOURCES",
    "LabelPolicyError",
    "PolicySettings",
]

MULTI_LABEL_RULES: tuple[str, ...] = ("full", "split", "first")
OUT_OF_SET_RULES: tuple[str, ...] = ("drop", "keep")
DUPLICATE_RULES: tuple[str, ...] = ("once", "each")
SELECTION_RULES: tuple[str, ...] = ("all", "consensus", "plurality", "majority")
#: Which votes count: human raters only, synthetic annotators only, or both.
VOTE_SOURCES: tuple[str, ...] = ("human", "synthetic", "combined")
#: Upper bounds on user-given sizes (a typo such as 1e9 fails early instead of allocating).
MAX_SYNTHETIC_N = 100_000
MAX_SYNTHETIC_WEIGHT = 1_000.0
#: Settings of the vote choice, left out of the fingerprint while at their defaults, so that the
#: fingerprints of policies written before the choice existed do not move.
VOTE_DEFAULTS: dict[str, Any] = {
    "votes": "human", "synthetic_n": None, "synthetic_weight": 1.0, "synthetic_source": None,
}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+\-]*$")
_EQ1_DESCRIPTION = (
    "Paper Eq. 1: y_c = n_c / N over every rater's votes (all rater kinds, each label one full vote, "
    "'other' dropped); classes inferred from the data in canonical order."
)


class LabelPolicyError(ValueError):
    """A label policy is invalid, cannot be found, or cannot be applied to a table."""


class PolicySettings(BaseModel):
    """The settings of a label policy (see :class:`~amber2.labels.policy.LabelPolicy` for their use).

    Attributes:
        name: Short identifier (letters, digits, ``. _ + -``), e.g. ``iemocap-4class``.
        version: Version of this policy's definition; bump it when the rule changes.
        description: What the policy reproduces, for humans (not part of :meth:`fingerprint`).
        classes: Ordered class names, or None to infer them from the data: every label counted
            (after rater selection and merging) except ``other_class``, in the canonical order of
            :data:`amber2.corpora.vocab.CANONICAL_LABELS` then alphabetically; with
            ``out_of_set="keep"`` ``other_class`` is appended last.
        merge: Renames applied to labels before class matching, e.g. ``{"excited": "happy"}``
            (stored as sorted ``(source, target)`` pairs). A target must be a class (or
            ``other_class`` under ``keep``); a source must not be a class; chains are refused.
        rater_kinds: Human rater kinds whose votes count (``external``, ``self``, ``voice``, ...);
            None = every human kind. ``synthetic`` is not a human kind: choose it with ``votes``.
        multi_label: ``full`` (each label one full vote), ``split`` (each of a rater's m valid labels
            weighs 1/m) or ``first`` (only the rater's first label, as written).
        include_secondary: Also count the rater's ``secondary`` labels (MSP-Podcast all-inclusive).
        duplicates: ``once``: a class named several times by one rater counts once for that rater;
            ``each``: every mention counts.
        out_of_set: ``drop`` labels outside ``classes`` (and renormalise), or ``keep`` them as the
            class ``other_class`` (which must then be in ``classes``).
        other_class: Name of the catch-all class (``other``).
        smoothing: Label smoothing epsilon in [0, 1): y' = (1 - eps) y + eps (1 - y) / (C - 1).
        decimals: Round the final distribution to this many decimals (None = no rounding); rows are
            not renormalised afterwards.
        min_votes: Drop items whose valid vote mass N is below this (``below_min_votes``).
        min_raters: Drop items with fewer raters contributing a valid label (``below_min_raters``).
        selection: ``all``; ``consensus`` (metadata ``consensus_column`` in ``consensus_codes``);
            ``plurality`` (a unique top class); ``majority`` (top class > N / 2).
        consensus_column: Item metadata column holding the corpus's consensus code.
        consensus_codes: Accepted consensus codes (required by, and only allowed with,
            ``selection="consensus"``).
        votes: ``human`` (every kind except ``synthetic``, intersected with ``rater_kinds``),
            ``synthetic`` (the synthetic annotators' votes only) or ``combined`` (the first
            ``synthetic_n`` synthetic votes appended to the human ones).
        synthetic_n: How many synthetic votes per utterance: those of the annotators with the
            ``synthetic_n`` smallest indices; None = all of them.
        synthetic_weight: Weight of each synthetic vote relative to a human vote under
            ``combined`` (1 = every vote counts once, as in "Scaling Ambiguity").
        synthetic_source: ``<backend>:<model>`` of the synthetic annotators to use; needed only when
            a corpus holds votes of more than one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False)

    name: str = "eq1"
    version: str = "1"
    description: str = _EQ1_DESCRIPTION
    classes: tuple[str, ...] | None = None
    merge: tuple[tuple[str, str], ...] = ()
    rater_kinds: tuple[str, ...] | None = None
    multi_label: Literal["full", "split", "first"] = "full"
    include_secondary: bool = False
    duplicates: Literal["once", "each"] = "once"
    out_of_set: Literal["drop", "keep"] = "drop"
    other_class: str = "other"
    smoothing: float = 0.0
    decimals: int | None = None
    min_votes: float = 0.0
    min_raters: int = 0
    selection: Literal["all", "consensus", "plurality", "majority"] = "all"
    consensus_column: str = "consensus"
    consensus_codes: tuple[str, ...] | None = None
    votes: Literal["human", "synthetic", "combined"] = "human"
    synthetic_n: int | None = None
    synthetic_weight: float = 1.0
    synthetic_source: str | None = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise LabelPolicyError(_explain(exc, data.get("name", "eq1"))) from None

    # ------------------------------------------------------------------ field checks
    @field_validator("name", mode="before")
    @classmethod
    def _check_name(cls, v: Any) -> str:
        if not isinstance(v, str) or not _NAME.match(v):
            raise ValueError(
                f"label policy name {v!r} is invalid: use letters, digits and '. _ + -', "
                "starting with a letter or digit"
            )
        return v

    @field_validator("version", mode="before")
    @classmethod
    def _check_version(cls, v: Any) -> str:
        if isinstance(v, bool) or not isinstance(v, (str, int)) or str(v).strip() == "":
            raise ValueError(f"version must be a non-empty string, got {v!r}")
        return str(v).strip()

    @field_validator("description", "consensus_column", mode="before")
    @classmethod
    def _check_text(cls, v: Any, info: Any) -> str:
        if not isinstance(v, str) or (info.field_name == "consensus_column" and not v):
            raise ValueError(f"{info.field_name} must be a{' non-empty' * (info.field_name != 'description')} "
                             f"string, got {v!r}")
        return v

    @field_validator("other_class", mode="before")
    @classmethod
    def _check_other(cls, v: Any) -> str:
        if not isinstance(v, str) or not v.strip():
            raise ValueError(f"other_class must be a non-empty string, got {v!r}")
        return v

    @field_validator("classes", "rater_kinds", "consensus_codes", mode="before")
    @classmethod
    def _check_names(cls, v: Any, info: Any) -> tuple[str, ...] | None:
        what = info.field_name
        if v is None:
            return None
        if isinstance(v, str) or not isinstance(v, Iterable):
            raise ValueError(f"{what} must be a list of names, got {v!r}")
        out = tuple(v)
        bad = [x for x in out if not isinstance(x, str) or not x.strip() or x != x.strip()]
        if bad:
            raise ValueError(f"{what} must hold non-empty names without surrounding blanks, got {bad}")
        if what == "classes":
            if len(out) < 2:
                raise ValueError(f"classes must hold at least 2 names, got {list(out)}")
            dup = sorted({c for c in out if out.count(c) > 1})
            if dup:
                raise ValueError(f"classes are listed more than once: {dup}")
        if what == "rater_kinds":
            if not out:
                raise ValueError("rater_kinds is empty (no vote would count); use None for every kind")
            if SYNTHETIC_KIND in out:
                raise ValueError(
                    f"rater_kinds lists {SYNTHETIC_KIND!r}, which is not a human kind; choose synthetic "
                    "votes with votes='synthetic' or votes='combined'"
                )
            out = tuple(dict.fromkeys(out))
        return out

    @field_validator("merge", mode="before")
    @classmethod
    def _check_merge(cls, v: Any) -> tuple[tuple[str, str], ...]:
        return _merge_pairs(v)

    @field_validator("multi_label", "duplicates", "out_of_set", "selection", "votes", mode="before")
    @classmethod
    def _check_choice(cls, v: Any, info: Any) -> str:
        options = {"multi_label": MULTI_LABEL_RULES, "duplicates": DUPLICATE_RULES,
                   "out_of_set": OUT_OF_SET_RULES, "selection": SELECTION_RULES,
                   "votes": VOTE_SOURCES}[info.field_name]
        if v not in options:
            raise ValueError(f"{info.field_name} must be one of {list(options)}, got {v!r}")
        return v

    @field_validator("include_secondary", mode="before")
    @classmethod
    def _check_bool(cls, v: Any) -> bool:
        if not isinstance(v, bool):
            raise ValueError(f"include_secondary must be true or false, got {v!r}")
        return v

    @field_validator("smoothing", "min_votes", "synthetic_weight", mode="before")
    @classmethod
    def _check_number(cls, v: Any, info: Any) -> float:
        what = info.field_name
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            raise ValueError(f"{what} must be a finite number, got {v!r}")
        x = float(v)
        if what == "smoothing" and not 0.0 <= x < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {x}")
        if what == "min_votes" and x < 0:
            raise ValueError(f"min_votes must be >= 0, got {x}")
        if what == "synthetic_weight" and not 0.0 < x <= MAX_SYNTHETIC_WEIGHT:
            raise ValueError(f"synthetic_weight must be in (0, {MAX_SYNTHETIC_WEIGHT:g}], got {x}")
        return x

    @field_validator("decimals", "min_raters", "synthetic_n", mode="before")
    @classmethod
    def _check_int(cls, v: Any, info: Any) -> int | None:
        what = info.field_name
        lo, hi = {"decimals": (0, 12), "min_raters": (0, None), "synthetic_n": (1, MAX_SYNTHETIC_N)}[what]
        if v is None and what != "min_raters":
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
            allowed = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
            none = "None or " if what != "min_raters" else ""
            raise ValueError(f"{what} must be {none}{allowed}, got {v!r}")
        return v

    @field_validator("synthetic_source", mode="before")
    @classmethod
    def _check_source(cls, v: Any) -> str | None:
        if v is None:
            return None
        if not isinstance(v, str) or ":" not in v or v.startswith(":") or v.endswith(":") or v != v.strip():
            raise ValueError(f"synthetic_source must look like '<backend>:<model>', got {v!r}")
        return v

    # ------------------------------------------------------------------ cross-field checks
    @model_validator(mode="after")
    def _check_together(self) -> PolicySettings:
        mmap = dict(self.merge)
        chained = sorted(s for s, t in self.merge if t in mmap)
        if chained:
            shown = ", ".join(f"{s} -> {mmap[s]} -> {mmap[mmap[s]]}" for s in chained)
            raise ValueError(f"merge chains are not allowed ({shown}); map each source straight to its final class")
        classes, other = self.classes, self.other_class
        if classes is not None:
            if self.out_of_set == "keep" and other not in classes:
                raise ValueError(
                    f"out_of_set='keep' counts labels outside the class set as {other!r}, "
                    f"but {other!r} is not in classes {list(classes)}; add it or use out_of_set='drop'"
                )
            for src, dst in self.merge:
                if dst not in classes:
                    raise ValueError(f"merge target {dst!r} (from {src!r}) is not in classes {list(classes)}")
                if src in classes:
                    raise ValueError(f"{src!r} is merged into {dst!r} but is also listed as a class; "
                                     "remove it from classes or from merge")
        if self.selection == "consensus":
            if not self.consensus_codes:
                raise ValueError("selection='consensus' needs consensus_codes "
                                 "(e.g. ['neu', 'hap', 'exc', 'ang', 'sad'])")
        elif self.consensus_codes is not None:
            raise ValueError("consensus_codes are only used with selection='consensus' "
                             f"(selection is {self.selection!r})")
        if self.votes == "human":
            used = [k for k in ("synthetic_n", "synthetic_source") if getattr(self, k) is not None]
            used += ["synthetic_weight"] * (self.synthetic_weight != 1.0)
            if used:
                raise ValueError(f"{', '.join(used)} only apply with votes='synthetic' or 'combined' "
                                 "(votes is 'human')")
        elif self.votes == "synthetic" and self.synthetic_weight != 1.0:
            raise ValueError("synthetic_weight weighs synthetic votes against human ones, so it only applies "
                             "with votes='combined' (under votes='synthetic' every vote has the same weight)")
        return self

    # ------------------------------------------------------------------ views
    @property
    def merge_map(self) -> dict[str, str]:
        """The merge renames as a dict (a copy)."""
        return dict(self.merge)

    def resolve(self, label: str) -> str:
        """The name a label counts under after merging (the label itself when not merged)."""
        for src, dst in self.merge:
            if src == label:
                return dst
        return label

    @property
    def uses_synthetic(self) -> bool:
        """True when synthetic annotators' votes count (``votes`` is ``synthetic`` or ``combined``)."""
        return self.votes != "human"

    @field_serializer("merge")
    def _merge_as_mapping(self, merge: tuple[tuple[str, str], ...]) -> dict[str, str]:
        return dict(merge)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; ``from_dict`` rebuilds an equal policy.

        It is ``model_dump(mode="json")``: tuples as lists, ``merge`` as a mapping.
        """
        return self.model_dump(mode="json")

    def to_json(self, *, indent: int | None = 2) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The settings a policy has (the keys ``from_dict`` accepts, besides ``extends``)."""
        return tuple(cls.model_fields)

    def replace(self, **changes: Any) -> PolicySettings:
        """A copy with some settings changed, validated like a new policy.

        Raises:
            LabelPolicyError: An unknown setting or an invalid value.
        """
        unknown = sorted(k for k in changes if k not in type(self).model_fields)
        if unknown:
            raise LabelPolicyError(f"label policy {self.name!r}: unknown setting(s) {unknown}; known settings: "
                                   f"{', '.join(self.field_names())}")
        data = self.model_dump()
        data.update(changes)
        return type(self)(**data)

    def with_votes(self, votes: str, *, n: int | None = None, weight: float = 1.0, source: str | None = None,
                   name: str | None = None) -> PolicySettings:
        """This policy with another choice of votes (human, synthetic or combined).

        Args:
            votes: ``human``, ``synthetic`` or ``combined``.
            n: Synthetic votes per utterance (the annotators with the n smallest indices); None = all.
            weight: Weight of each synthetic vote under ``combined``.
            source: ``<backend>:<model>`` of the synthetic annotators (when the corpus holds several).
            name: Name of the new policy; default ``<name>+<votes>`` (the name unchanged for ``human``).

        Raises:
            LabelPolicyError: An invalid combination (e.g. ``n`` with ``votes="human"``).
        """
        default = self.name if votes == "human" else f"{self.name}+{votes}"
        return self.replace(votes=votes, synthetic_n=n, synthetic_weight=weight, synthetic_source=source,
                            name=name or default)

    def fingerprint(self) -> str:
        """SHA-256 of the rule: every setting except ``name``, ``version`` and ``description``.

        Two policies with the same rule share a fingerprint whatever they are called. The vote-choice
        settings enter only when they differ from their defaults, so a human-votes policy keeps the
        fingerprint it had before that choice existed.
        """
        d = self.to_dict()
        for k in ("name", "version", "description"):
            d.pop(k)
        for k, default in VOTE_DEFAULTS.items():
            if d[k] == default:
                d.pop(k)
        return hash_json(d)

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


# ---------------------------------------------------------------------- helpers
def _explain(exc: ValidationError, name: Any) -> str:
    """One message per invalid setting, naming the policy and the field.

    Our wording for the rules (the validators' ValueErrors), pydantic's for anything else.
    """
    parts = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, ValueError):
            msg = str(cause)
        elif err["type"] == "extra_forbidden":
            msg = f"unknown setting {field!r}"
        else:
            msg = f"{field}: {err['msg']}, got {err.get('input')!r}"
        if field == "name" and msg.startswith("label policy name"):
            parts.append(msg)
        else:
            parts.append(f"label policy {name!r}: {msg}")
    return "; ".join(parts)


def _merge_pairs(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, Iterable) and not isinstance(value, str):
        pairs = []
        for p in value:
            if isinstance(p, str) or not isinstance(p, Iterable) or len(tuple(p)) != 2:
                raise ValueError(f"merge must map source -> target, got entry {p!r}")
            pairs.append(tuple(p))
    else:
        raise ValueError(f"merge must be a mapping source -> target, got {value!r}")
    seen: dict[str, str] = {}
    for src, dst in pairs:
        for v in (src, dst):
            if not isinstance(v, str) or not v.strip() or v != v.strip():
                raise ValueError(f"merge names must be non-empty strings, got {src!r} -> {dst!r}")
        if src == dst:
            raise ValueError(f"merge maps {src!r} onto itself")
        if src in seen and seen[src] != dst:
            raise ValueError(f"merge maps {src!r} to both {seen[src]!r} and {dst!r}")
        seen[src] = dst
    return tuple(sorted(seen.items()))
