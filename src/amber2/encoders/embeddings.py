"""Reading a corpus's embeddings back from the cache: one call, :func:`load_embeddings`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amber2.encoders.cache import EncoderStore, list_stores
from amber2.encoders.presets import resolve_spec, spec_matches
from amber2.utils.io import read_json
from amber2.utils.logging import get_logger

__all__ = ["EmbeddingSet", "load_embeddings"]

log = get_logger(__name__)


@dataclass
class EmbeddingSet:
    """Embeddings of a set of utterances, aligned across modalities.

    Attributes:
        ids: Utterance ids that have an embedding in *every* modality, in order.
        features: ``{modality: float32 (len(ids), d)}``; row ``k`` belongs to ``ids[k]``.
        failed: ``{id: "modality: reason; ..."}`` for every requested id left out (never zero-filled).
        spec: ``{modality: {"fingerprint", "dim", "spec"}}`` of the encoders the vectors came from.
    """

    ids: list[str]
    features: dict[str, np.ndarray]
    failed: dict[str, str] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for m, x in self.features.items():
            if x.shape[0] != len(self.ids):
                raise ValueError(f"modality {m!r} has {x.shape[0]} rows for {len(self.ids)} ids")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dims(self) -> dict[str, int]:
        """Embedding length per modality."""
        return {m: int(x.shape[1]) for m, x in self.features.items()}

    def subset(self, ids: list[str]) -> EmbeddingSet:
        """The rows of ``ids`` (in that order); unknown ids raise a KeyError naming them."""
        pos = {i: k for k, i in enumerate(self.ids)}
        unknown = [i for i in ids if i not in pos]
        if unknown:
            raise KeyError(f"{len(unknown)} id(s) not in the embedding set: {unknown[:10]}")
        idx = np.array([pos[i] for i in ids], dtype=np.int64)
        return EmbeddingSet(list(ids), {m: x[idx] for m, x in self.features.items()},
                            {i: r for i, r in self.failed.items() if i in set(ids)}, dict(self.spec))


def _pick_store(cache: Path, modality: str, request: Any, recorded: dict[str, Any]) -> EncoderStore | None:
    """The store of ``modality`` that matches the request (or the last run's, when no request)."""
    stores = list_stores(cache, modality)
    if request is None:
        fp = (recorded.get(modality) or {}).get("fingerprint")
        for s in stores:
            if s.fingerprint == fp:
                return s
        return stores[0] if len(stores) == 1 else None
    if isinstance(request, dict):
        matching = [s for s in stores if spec_matches(request, s.info().get("spec", {}))]
    else:  # an Encoder instance
        matching = [s for s in stores if s.fingerprint == request.fingerprint]
    if not matching:
        return None
    if len(matching) > 1:
        fp = (recorded.get(modality) or {}).get("fingerprint")
        same = [s for s in matching if s.fingerprint == fp]
        if same:
            return same[0]
        matching.sort(key=lambda s: len(s.entries()), reverse=True)
        log.info("%s: %d cached encoders match the request; using the most complete (%s)", modality,
                 len(matching), matching[0].fingerprint[:16])
    return matching[0]


def load_embeddings(
    cache_dir: str | os.PathLike[str],
    ids: list[str] | None = None,
    *,
    preset_or_spec: str | dict[str, Any] | None = None,
    modalities: list[str] | None = None,
) -> EmbeddingSet:
    """Read embeddings back from an extraction cache.

    Args:
        cache_dir: The cache folder given to :func:`amber2.encoders.extract`.
        ids: Utterance ids wanted, in order (default: every id of the last extracted table, in table
            order).
        preset_or_spec: Which encoders (default: those of the last extraction into this cache). A
            preset name or spec selects, per modality, the cached encoder whose spec matches it
            (``dtype: auto`` matches any compute dtype).
        modalities: Keep only these modalities (default: all of the spec).

    Returns:
        An :class:`EmbeddingSet`; ids with no vector in some modality are in ``failed`` with the
        reason recorded at extraction (or "not extracted").

    Raises:
        FileNotFoundError: the cache has no extraction, or no cached encoder matches the request.
    """
    cache = Path(cache_dir).expanduser()
    meta_path = cache / "extract.json"
    meta = read_json(meta_path) if meta_path.is_file() else {}
    recorded: dict[str, Any] = dict(meta.get("spec", {}))
    if preset_or_spec is None:
        if not recorded:
            found = sorted({s.modality for s in list_stores(cache)})
            if not found:
                raise FileNotFoundError(f"no embeddings in {cache} (run `amber2 extract` first)")
            requests: dict[str, Any] = {m: None for m in found}
        else:
            requests = {m: None for m in recorded}
    else:
        requests = dict(resolve_spec(preset_or_spec))
    if modalities is not None:
        unknown = [m for m in modalities if m not in requests]
        if unknown:
            raise KeyError(f"modalities {unknown} are not in the spec ({sorted(requests)})")
        requests = {m: requests[m] for m in modalities}

    stores: dict[str, EncoderStore] = {}
    for m, req in requests.items():
        store = _pick_store(cache, m, req, recorded)
        if store is None:
            have = [s.info().get("spec", {}) for s in list_stores(cache, m)]
            raise FileNotFoundError(
                f"no cached {m!r} embeddings in {cache} match {req if req is not None else 'the last run'}; "
                f"cached {m} encoders: {have or 'none'} (run `amber2 extract` with these settings)"
            )
        stores[m] = store

    records = {m: s.item_records() for m, s in stores.items()}
    if ids is None:
        ids = [str(i) for i in meta.get("ids", [])] or sorted(set().union(*[set(r) for r in records.values()]))
    ids = [str(i) for i in ids]

    reasons: dict[str, dict[str, str]] = {}
    vectors: dict[str, dict[str, np.ndarray]] = {}
    for m, store in stores.items():
        rec = records[m]
        keys = {i: rec[i].key for i in ids if i in rec and rec[i].key is not None}
        got = store.read(list(set(keys.values())))
        vectors[m] = {}
        for i in ids:
            k = keys.get(i)
            if k is not None and k in got:
                vectors[m][i] = got[k]
                continue
            r = rec.get(i)
            if r is not None and r.reason:
                why = r.reason
            elif r is not None and r.key is not None:
                why = "not extracted yet (the extraction was interrupted; rerun `amber2 extract`)"
            else:
                why = "not extracted (not in the corpus table of any extraction into this cache)"
            reasons.setdefault(i, {})[m] = why
    ok = [i for i in ids if i not in reasons]
    feats = {}
    for m, store in stores.items():
        dim = int(store.info().get("dim", 0))
        feats[m] = (np.stack([vectors[m][i] for i in ok]).astype(np.float32, copy=False) if ok
                    else np.zeros((0, dim), dtype=np.float32))
    failed = {i: "; ".join(f"{m}: {r}" for m, r in rs.items()) for i, rs in reasons.items()}
    spec = {m: {"fingerprint": s.fingerprint, "dim": int(s.info().get("dim", 0)), "spec": s.info().get("spec", {})}
            for m, s in stores.items()}
    if failed:
        log.info("%d of %d items have no embedding in some modality (see EmbeddingSet.failed)", len(failed), len(ids))
    return EmbeddingSet(ok, feats, failed, spec)
