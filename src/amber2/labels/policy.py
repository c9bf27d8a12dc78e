r"""Label policies: the rule that turns raters' votes into a target distribution y.

The paper's rule (Eq. 1) is

.. math::

    y_c = \frac{n_c}{N}, \qquad c = 1, \dots, C, \qquad \sum_c y_c = 1

with :math:`n_c` the votes for class :math:`c` and :math:`N` the valid votes of the utterance. Every
public benchmark fills in the details differently (which raters count, what a rater who picks several
labels is worth, what happens to *other* and to classes outside the set, smoothing, rounding, which
utterances are kept), and each choice changes every reported number. A :class:`LabelPolicy` writes
those choices down, names and versions them, and round-trips through JSON / YAML so that a result can
always be traced to the exact rule that made its targets.

Order of operations when a policy is applied (:meth:`LabelPolicy.apply`):

1. *Item selection by metadata* (``selection="consensus"``): keep utterances whose
   ``consensus_column`` value is one of ``consensus_codes``.
2. *Raters*: keep the votes whose ``kind`` is in ``rater_kinds`` (None = every kind).
3. *A rater's labels*: the primary ``labels`` in the rater's order, followed by the ``secondary``
   labels when ``include_secondary`` is set. With ``multi_label="first"`` only the first of them is
   kept (the first label *as the rater wrote it*, before any class filtering).
4. *Merging*: each label is renamed by ``merge`` (e.g. ``excited -> happy``).
5. *Class set*: a label in ``classes`` counts for its class; any other label (``other`` included,
   unless ``other`` is itself a class) is dropped (``out_of_set="drop"``) or counted as the class
   named ``other_class`` (``out_of_set="keep"``).
6. *Repeats*: with ``duplicates="once"`` a class a rater names more than once (``happy`` and
   ``excited`` merged, or an MSP-Podcast primary repeated among the secondary labels) counts once for
   that rater; with ``"each"`` every mention counts.
7. *Weights*: ``multi_label="full"``: each remaining label is one full vote; ``"split"``: each of the
   rater's ``m`` remaining labels weighs ``1/m`` (so every rater with a valid label weighs exactly 1);
   ``"first"``: one vote.
8. *Counts* :math:`n_c` (sum of weights) and :math:`N = \sum_c n_c`; utterances without any rater of
   the counted kinds (``no_votes``), with :math:`N = 0` (``no_valid_votes``), below ``min_votes`` or
   ``min_raters``, or failing ``selection="plurality"`` / ``"majority"`` are dropped and listed in
   :attr:`LabelSet.dropped` - never divided by zero.
9. *Normalisation* :math:`y_c = n_c / N` (Eq. 1), then *label smoothing* (EMO-SUPERB)
   :math:`y'_c = (1 - \epsilon) y_c + \epsilon (1 - y_c) / (C - 1)`, which keeps rows summing to 1,
   then *rounding* to ``decimals`` places (rows are **not** renormalised after rounding: the rounded
   values are what the reproduced benchmark stores, so a row may sum to 1 +- C * 0.5 * 10^-d).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from amber2.corpora.vocab import CANONICAL_LABELS as CANONICAL_ORDER  # order of inferred classes
from amber2.utils.fingerprint import hash_json
from amber2.utils.io import atomic_write_text

if TYPE_CHECKING:
    from amber2.corpora.table import CorpusTable
    from amber2.labels.labelset import LabelSet

__all__ = [
    "CANONICAL_ORDER",
    "MULTI_LABEL_RULES",
    "OUT_OF_SET_RULES",
    "SELECTION_RULES",
    "LabelPolicy",
    "LabelPolicyError",
]

MULTI_LABEL_RULES: tuple[str, ...] = ("full", "split", "first")
OUT_OF_SET_RULES: tuple[str, ...] = ("drop", "keep")
DUPLICATE_RULES: tuple[str, ...] = ("once", "each")
SELECTION_RULES: tuple[str, ...] = ("all", "consensus", "plurality", "majority")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+\-]*$")
_EQ1_DESCRIPTION = (
    "Paper Eq. 1: y_c = n_c / N over every rater's votes (all rater kinds, each label one full vote, "
    "'other' dropped); classes inferred from the data in canonical order."
)


class LabelPolicyError(ValueError):
    """A label policy is invalid, cannot be found, or cannot be applied to a table."""


@dataclass(frozen=True)
class LabelPolicy:
    """A named, versioned rule turning raters' votes into target distributions (Eq. 1 and variants).

    The default ``LabelPolicy()`` is the paper's Eq. 1: :math:`y_c = n_c / N` over all raters' votes,
    classes inferred from the data. See the module docstring for the order of operations.

    Attributes:
        name: Short identifier (letters, digits, ``. _ + -``), e.g. ``iemocap-4class``.
        version: Version of this policy's definition; bump it when the rule changes.
        description: What the policy reproduces, for humans (not part of :meth:`fingerprint`).
        classes: Ordered class names, or None to infer them from the data: every label counted
            (after rater selection and merging) except ``other_class``, in :data:`CANONICAL_ORDER`
            then alphabetical order; with ``out_of_set="keep"`` ``other_class`` is appended last.
        merge: Renames applied to labels before class matching, e.g. ``{"excited": "happy"}``. A
            target must be a class (or ``other_class`` under ``keep``); a source must not be a class;
            chains (a target that is itself merged) are refused.
        rater_kinds: Rater kinds whose votes count (``external``, ``self``, ``voice``, ...); None =
            every kind.
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
    """

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
    _merge_map: dict[str, str] = field(init=False, repr=False, compare=False, hash=False)

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        set_ = object.__setattr__
        name = self.name
        if not isinstance(name, str) or not _NAME.match(name):
            raise LabelPolicyError(
                f"label policy name {name!r} is invalid: use letters, digits and '. _ + -', "
                "starting with a letter or digit"
            )
        who = f"label policy {name!r}"
        version = self.version
        if isinstance(version, bool) or not isinstance(version, (str, int)) or str(version).strip() == "":
            raise LabelPolicyError(f"{who}: version must be a non-empty string, got {version!r}")
        set_(self, "version", str(version).strip())
        if not isinstance(self.description, str):
            raise LabelPolicyError(
                f"{who}: description must be a string, got {type(self.description).__name__}"
            )

        other = self.other_class
        if not isinstance(other, str) or not other.strip():
            raise LabelPolicyError(f"{who}: other_class must be a non-empty string, got {other!r}")

        classes = _str_tuple(self.classes, who, "classes", allow_none=True)
        if classes is not None:
            if len(classes) < 2:
                raise LabelPolicyError(f"{who}: classes must hold at least 2 names, got {list(classes)}")
            dup = sorted({c for c in classes if classes.count(c) > 1})
            if dup:
                raise LabelPolicyError(f"{who}: classes are listed more than once: {dup}")
        set_(self, "classes", classes)

        merge = _merge_pairs(self.merge, who)
        set_(self, "merge", merge)
        mmap = dict(merge)
        set_(self, "_merge_map", mmap)
        chained = sorted(s for s, t in merge if t in mmap)
        if chained:
            shown = ", ".join(f"{s} -> {mmap[s]} -> {mmap[mmap[s]]}" for s in chained)
            raise LabelPolicyError(
                f"{who}: merge chains are not allowed ({shown}); map each source straight to its final class"
            )

        kinds = _str_tuple(self.rater_kinds, who, "rater_kinds", allow_none=True)
        if kinds is not None and not kinds:
            raise LabelPolicyError(
                f"{who}: rater_kinds is empty (no vote would count); use None for every kind"
            )
        set_(self, "rater_kinds", None if kinds is None else tuple(dict.fromkeys(kinds)))

        _choice(self.multi_label, MULTI_LABEL_RULES, who, "multi_label")
        _choice(self.duplicates, DUPLICATE_RULES, who, "duplicates")
        _choice(self.out_of_set, OUT_OF_SET_RULES, who, "out_of_set")
        _choice(self.selection, SELECTION_RULES, who, "selection")
        if not isinstance(self.include_secondary, bool):
            raise LabelPolicyError(
                f"{who}: include_secondary must be true or false, got {self.include_secondary!r}"
            )

        if classes is not None:
            if self.out_of_set == "keep" and other not in classes:
                raise LabelPolicyError(
                    f"{who}: out_of_set='keep' counts labels outside the class set as {other!r}, "
                    f"but {other!r} is not in classes {list(classes)}; add it or use out_of_set='drop'"
                )
            allowed = set(classes)
            for src, dst in merge:
                if dst not in allowed:
                    raise LabelPolicyError(
                        f"{who}: merge target {dst!r} (from {src!r}) is not in classes {list(classes)}"
                    )
                if src in allowed:
                    raise LabelPolicyError(
                        f"{who}: {src!r} is merged into {dst!r} but is also listed as a class; "
                        "remove it from classes or from merge"
                    )

        eps = _number(self.smoothing, who, "smoothing")
        if not 0.0 <= eps < 1.0:
            raise LabelPolicyError(f"{who}: smoothing must be in [0, 1), got {eps}")
        set_(self, "smoothing", eps)
        dec = self.decimals
        if dec is not None and (isinstance(dec, bool) or not isinstance(dec, int) or not 0 <= dec <= 12):
            raise LabelPolicyError(f"{who}: decimals must be None or an integer in [0, 12], got {dec!r}")
        mv = _number(self.min_votes, who, "min_votes")
        if mv < 0:
            raise LabelPolicyError(f"{who}: min_votes must be >= 0, got {mv}")
        set_(self, "min_votes", mv)
        mr = self.min_raters
        if isinstance(mr, bool) or not isinstance(mr, int) or mr < 0:
            raise LabelPolicyError(f"{who}: min_raters must be an integer >= 0, got {mr!r}")

        if not isinstance(self.consensus_column, str) or not self.consensus_column:
            raise LabelPolicyError(f"{who}: consensus_column must be a non-empty string")
        codes = _str_tuple(self.consensus_codes, who, "consensus_codes", allow_none=True)
        if self.selection == "consensus":
            if not codes:
                raise LabelPolicyError(
                    f"{who}: selection='consensus' needs consensus_codes "
                    "(e.g. ['neu', 'hap', 'exc', 'ang', 'sad'])"
                )
        elif codes is not None:
            raise LabelPolicyError(
                f"{who}: consensus_codes are only used with selection='consensus' "
                f"(selection is {self.selection!r})"
            )
        set_(self, "consensus_codes", codes)

    # ------------------------------------------------------------------ views
    @property
    def merge_map(self) -> dict[str, str]:
        """The merge renames as a dict (a copy)."""
        return dict(self._merge_map)

    def resolve(self, label: str) -> str:
        """The name a label counts under after merging (the label itself when not merged)."""
        return self._merge_map.get(label, label)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; :meth:`from_dict` rebuilds an equal policy."""
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "classes": None if self.classes is None else list(self.classes),
            "merge": dict(self.merge),
            "rater_kinds": None if self.rater_kinds is None else list(self.rater_kinds),
            "multi_label": self.multi_label,
            "include_secondary": self.include_secondary,
            "duplicates": self.duplicates,
            "out_of_set": self.out_of_set,
            "other_class": self.other_class,
            "smoothing": self.smoothing,
            "decimals": self.decimals,
            "min_votes": self.min_votes,
            "min_raters": self.min_raters,
            "selection": self.selection,
            "consensus_column": self.consensus_column,
            "consensus_codes": None if self.consensus_codes is None else list(self.consensus_codes),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The keys :meth:`from_dict` accepts (besides ``extends``)."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.init)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelPolicy:
        """Build a policy from a dict (as written by :meth:`to_dict`, or hand-written).

        Missing keys take their defaults. A key ``extends: <preset name>`` starts from that preset
        and overrides only the keys given (the name then defaults to ``<preset>-custom``).

        Raises:
            LabelPolicyError: Unknown keys, an unknown preset in ``extends``, or invalid values.
        """
        if not isinstance(data, Mapping):
            raise LabelPolicyError(f"a label policy must be a mapping of settings, got {type(data).__name__}")
        data = dict(data)
        base_name = data.pop("extends", None)
        allowed = cls.field_names()
        unknown = sorted(k for k in data if k not in allowed)
        if unknown:
            raise LabelPolicyError(
                f"label policy {data.get('name', base_name)!r}: unknown setting(s) {unknown}; "
                f"known settings: {', '.join(allowed)} (and 'extends')"
            )
        if base_name is not None:
            from amber2.labels.presets import get_policy

            base = get_policy(str(base_name)).to_dict()
            base["name"] = f"{base['name']}-custom"
            base.update(data)
            data = base
        if isinstance(data.get("merge"), Mapping):
            data["merge"] = tuple(data["merge"].items())
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> LabelPolicy:
        """Parse JSON text written by :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LabelPolicyError(f"label policy JSON is malformed: {exc}") from exc
        return cls.from_dict(data)

    def fingerprint(self) -> str:
        """SHA-256 of the rule: every setting except ``name``, ``version`` and ``description``.

        Two policies with the same rule share a fingerprint whatever they are called, so a result
        can be matched to the exact rule that made its targets.
        """
        d = self.to_dict()
        for k in ("name", "version", "description"):
            d.pop(k)
        return hash_json(d)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the policy (atomically) as JSON, or YAML when the suffix is ``.yaml`` / ``.yml``."""
        p = Path(path)
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        else:
            text = self.to_json() + "\n"
        return atomic_write_text(p, text)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LabelPolicy:
        """Read a policy file written by :meth:`save` (JSON or YAML, chosen by suffix).

        Raises:
            FileNotFoundError: No such file.
            LabelPolicyError: Unparsable content or invalid settings (the message names the file).
        """
        p = Path(path)
        text = p.read_text(encoding="utf-8")
        try:
            if p.suffix.lower() in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        except Exception as exc:
            raise LabelPolicyError(f"cannot parse label policy file {p}: {exc}") from exc
        if isinstance(data, Mapping) and "label_policy" in data and len(data) == 1:
            data = data["label_policy"]
        try:
            return cls.from_dict(data)
        except LabelPolicyError as exc:
            raise LabelPolicyError(f"{p}: {exc}") from exc

    # ------------------------------------------------------------------ use
    def apply(self, table: CorpusTable) -> LabelSet:
        """Turn a corpus table's votes into target distributions (see the module docstring).

        Args:
            table: A :class:`~amber2.corpora.table.CorpusTable`.

        Returns:
            A :class:`~amber2.labels.labelset.LabelSet`: kept ids in table order, ``Y`` (n, C) with
            rows summing to 1 (unless ``decimals`` rounds them), and every dropped id by reason.

        Raises:
            LabelPolicyError: The table lacks a column the policy needs, a vote's labels are not a
                list, or smoothing is asked for with fewer than 2 classes.
        """
        from amber2.labels.apply import apply_policy

        return apply_policy(self, table)

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


# ---------------------------------------------------------------------- helpers
def _str_tuple(value: Any, who: str, what: str, *, allow_none: bool) -> tuple[str, ...] | None:
    if value is None:
        if allow_none:
            return None
        raise LabelPolicyError(f"{who}: {what} must not be None")
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise LabelPolicyError(f"{who}: {what} must be a list of names, got {value!r}")
    out = tuple(value)
    bad = [v for v in out if not isinstance(v, str) or not v.strip() or v != v.strip()]
    if bad:
        raise LabelPolicyError(
            f"{who}: {what} must hold non-empty names without surrounding blanks, got {bad}"
        )
    return out


def _merge_pairs(value: Any, who: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, Iterable) and not isinstance(value, str):
        pairs = []
        for p in value:
            if isinstance(p, str) or not isinstance(p, Iterable) or len(tuple(p)) != 2:
                raise LabelPolicyError(f"{who}: merge must map source -> target, got entry {p!r}")
            pairs.append(tuple(p))
    else:
        raise LabelPolicyError(f"{who}: merge must be a mapping source -> target, got {value!r}")
    seen: dict[str, str] = {}
    for src, dst in pairs:
        for v in (src, dst):
            if not isinstance(v, str) or not v.strip() or v != v.strip():
                raise LabelPolicyError(
                    f"{who}: merge names must be non-empty strings, got {src!r} -> {dst!r}"
                )
        if src == dst:
            raise LabelPolicyError(f"{who}: merge maps {src!r} onto itself")
        if src in seen and seen[src] != dst:
            raise LabelPolicyError(f"{who}: merge maps {src!r} to both {seen[src]!r} and {dst!r}")
        seen[src] = dst
    return tuple(sorted(seen.items()))


def _choice(value: Any, options: tuple[str, ...], who: str, what: str) -> None:
    if value not in options:
        raise LabelPolicyError(f"{who}: {what} must be one of {list(options)}, got {value!r}")


def _number(value: Any, who: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise LabelPolicyError(f"{who}: {what} must be a finite number, got {value!r}")
    return float(value)
