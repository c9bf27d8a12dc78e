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
2. *Raters*: ``votes="human"`` (default): the votes of every kind except ``synthetic`` whose
   ``kind`` is in ``rater_kinds`` (None = every human kind); ``votes="synthetic"``: the synthetic
   annotators' votes only; ``votes="combined"``: both, the synthetic ones limited to the annotators
   with the ``synthetic_n`` smallest indices and each weighing ``synthetic_weight`` (step 7).
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
   ``"first"``: one vote. Under ``votes="combined"`` a synthetic vote's weight is multiplied by
   ``synthetic_weight``.
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

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from amber2.labels.apply import apply_policy
from amber2.labels.labelset import META_KEY, LabelSet
from amber2.labels.settings import LabelPolicyError, PolicySettings
from amber2.utils.io import atomic_write_text

if TYPE_CHECKING:
    from amber2.corpora.table import CorpusTable

__all__ = ["LabelPolicy", "LabelPolicyError", "read_labels"]

#: Looks a preset up by name (``extends:``); :func:`amber2.labels.presets.get_policy` in practice.
Resolver = Callable[[str], "LabelPolicy"]


class LabelPolicy(PolicySettings):
    """A named, versioned rule turning raters' votes into target distributions (Eq. 1 and variants).

    The default ``LabelPolicy()`` is the paper's Eq. 1: :math:`y_c = n_c / N` over all human raters'
    votes, classes inferred from the data. The settings, their validation (pydantic; every invalid
    value raises :class:`LabelPolicyError` naming the policy and the field) and the fingerprint are
    those of :class:`~amber2.labels.settings.PolicySettings`; see the module docstring for the order
    of operations. Policies are frozen: change one with :meth:`replace` or :meth:`with_votes`.
    """

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, resolve: Resolver | None = None) -> LabelPolicy:
        """Build a policy from a dict (as written by :meth:`to_dict`, or hand-written).

        Missing keys take their defaults. A key ``extends: <preset name>`` starts from that preset
        and overrides only the keys given (the name then defaults to ``<preset>-custom``); presets
        are found through ``resolve`` (:func:`amber2.labels.load_policy` passes the registry).

        Raises:
            LabelPolicyError: Unknown keys, ``extends`` without a resolver or naming an unknown
                preset, or invalid values.
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
            if resolve is None:
                raise LabelPolicyError(
                    f"label policy {data.get('name', base_name)!r} extends {base_name!r}: read it with "
                    "amber2.labels.load_policy, which knows the presets"
                )
            base = resolve(str(base_name)).to_dict()
            base["name"] = f"{base['name']}-custom"
            base.update(data)
            data = base
        return cls(**data)

    @classmethod
    def from_json(cls, text: str, *, resolve: Resolver | None = None) -> LabelPolicy:
        """Parse JSON text written by :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LabelPolicyError(f"label policy JSON is malformed: {exc}") from exc
        return cls.from_dict(data, resolve=resolve)

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
    def load(cls, path: str | os.PathLike[str], *, resolve: Resolver | None = None) -> LabelPolicy:
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
            return cls.from_dict(data, resolve=resolve)
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
                list, smoothing is asked for with fewer than 2 classes, or the synthetic votes asked
                for are absent or ambiguous (several sources and none chosen).
        """
        return apply_policy(self, table)


def read_labels(path: str | os.PathLike[str]) -> LabelSet:
    """Read a label set written by :meth:`LabelSet.write`, its policy included.

    Raises:
        LabelPolicyError: The file is not an amber2 label set.
    """
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise LabelPolicyError(f"{path} is not an amber2 label set (no label metadata)")
    info = json.loads(raw)
    df = table.to_pandas()
    classes = info["classes"]
    empty = np.zeros((len(df), 0))
    return LabelSet(
        ids=df["id"].astype(str).tolist(),
        Y=df[classes].to_numpy(np.float64) if classes else empty,
        classes=tuple(classes),
        counts=df[[f"votes:{c}" for c in classes]].to_numpy(np.float64) if classes else empty,
        n_votes=df["n_votes"].to_numpy(np.float64),
        n_raters=df["n_raters"].to_numpy(np.int64),
        dropped={k: list(v) for k, v in info["dropped"].items()},
        policy=LabelPolicy.from_dict(info["policy"]),
        out_of_set=dict(info.get("out_of_set", {})),
    )
