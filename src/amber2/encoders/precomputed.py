"""Features computed elsewhere by the user, added as further modalities (keyed by utterance id).

Accepted sources (never pickles):

* a **Parquet** file with an ``id`` column and either numeric feature columns (all the others, in
  file order) or one list/array column;
* an **.npz** file with a string array ``ids`` (n,) and a float array ``features`` (n, d), loaded with
  ``allow_pickle=False`` (save string ids as a unicode array: ``np.array(ids, dtype=str)``);
* a **folder of .npy files**, one per utterance named ``<id>.npy``, each a vector (d,) or frames
  (t, d) that are mean-pooled over time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from amber2.encoders.base import Encoder, EncoderError
from amber2.utils.fingerprint import hash_file, hash_json
from amber2.utils.io import load_npz

__all__ = ["PrecomputedFeatures"]


class PrecomputedFeatures(Encoder):
    """User features for a modality named ``name``, read from ``path``.

    Args:
        name: Modality name (anything but ``audio`` and ``text``), e.g. ``prosody``.
        path: Parquet file, .npz file or folder of ``<id>.npy`` files.
        sha256: Content hash from a previous spec (recomputed anyway; kept for the record).

    Raises:
        EncoderError: the path does not exist or has an unsupported format.
    """

    kind = "precomputed"

    def __init__(self, name: str, path: str | os.PathLike[str], *, sha256: str | None = None):
        if name in ("audio", "text"):
            raise EncoderError(f"precomputed features need their own modality name, not {name!r}")
        self.modality = str(name)
        self.path = Path(path).expanduser().resolve()
        if not self.path.exists():
            raise EncoderError(f"precomputed features {name!r}: {self.path} does not exist")
        if self.path.is_dir():
            files = sorted(self.path.glob("*.npy"))
            if not files:
                raise EncoderError(f"precomputed features {name!r}: no .npy files in {self.path}")
            self._sha = hash_json([[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files])
        elif self.path.suffix.lower() in (".parquet", ".pq", ".npz"):
            self._sha = hash_file(self.path)
        else:
            raise EncoderError(
                f"precomputed features {name!r}: {self.path.name} is not a Parquet file, an .npz file or a "
                "folder of <id>.npy files"
            )
        del sha256
        self._table: dict[str, np.ndarray] | None = None
        self._dim: int | None = None

    @property
    def spec(self) -> dict[str, Any]:
        """Kind, modality name, source path and its content hash."""
        return {"kind": self.kind, "name": self.modality, "path": str(self.path), "sha256": self._sha}

    @property
    def dim(self) -> int:
        """Feature length (read from the source)."""
        if self._dim is None:
            self.lookup([])
        return int(self._dim or 0)

    def lookup(self, ids: list[str]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """Vectors of ``ids`` and a reason for each id without a usable vector.

        Returns:
            ``(vectors: {id: float32 (d,)}, failed: {id: reason})``.
        """
        table = self._load()
        found: dict[str, np.ndarray] = {}
        failed: dict[str, str] = {}
        for i in ids:
            v = table.get(i)
            if v is None and self.path.is_dir():
                v = self._read_npy(self.path / f"{i}.npy", i, failed)
            if v is None:
                failed.setdefault(i, f"no precomputed {self.modality!r} features for item {i!r} in {self.path}")
                continue
            if not np.isfinite(v).all():
                failed[i] = f"precomputed {self.modality!r} features of item {i!r} contain NaN or inf"
                continue
            if self._dim is None:
                self._dim = int(v.size)
            if v.size != self._dim:
                failed[i] = (f"precomputed {self.modality!r} features of item {i!r} have {v.size} values, "
                             f"expected {self._dim}")
                continue
            found[i] = v
        return found, failed

    # ------------------------------------------------------------------ readers
    def _load(self) -> dict[str, np.ndarray]:
        if self._table is not None:
            return self._table
        table: dict[str, np.ndarray] = {}
        suffix = self.path.suffix.lower()
        if self.path.is_dir():
            first = next(iter(sorted(self.path.glob("*.npy"))))
            v = self._read_npy(first, first.stem, {})
            if v is not None:
                self._dim = int(v.size)
        elif suffix == ".npz":
            try:
                z = load_npz(self.path)  # an object array is named in the error
                ids, feats = z["ids"], z["features"]
            except (KeyError, ValueError) as exc:
                raise EncoderError(f"{self.path}: an .npz of features needs arrays 'ids' (strings) and "
                                   f"'features' (n, d) saved without pickles: {exc}") from exc
            feats = np.asarray(feats, dtype=np.float32)
            if feats.ndim != 2 or len(ids) != len(feats):
                raise EncoderError(f"{self.path}: 'features' must be (n, d) with n = len(ids), got "
                                   f"{feats.shape} for {len(ids)} ids")
            table = {str(i): feats[k] for k, i in enumerate(ids.tolist())}
            self._dim = int(feats.shape[1])
        else:
            import pandas as pd

            df = pd.read_parquet(self.path)
            if "id" not in df.columns:
                raise EncoderError(f"{self.path}: a Parquet file of features needs an 'id' column")
            cols = [c for c in df.columns if c != "id"]
            if len(cols) == 1 and df[cols[0]].dtype == object:
                mat = np.stack([np.asarray(v, dtype=np.float32).reshape(-1) for v in df[cols[0]]])
            else:
                bad = [c for c in cols if not pd.api.types.is_numeric_dtype(df[c])]
                if bad:
                    raise EncoderError(f"{self.path}: feature columns must be numeric; not numeric: {bad[:5]}")
                mat = df[cols].to_numpy(dtype=np.float32)
            table = {str(i): mat[k] for k, i in enumerate(df["id"].astype(str))}
            self._dim = int(mat.shape[1])
        self._table = table
        return table

    def _read_npy(self, f: Path, item: str, failed: dict[str, str]) -> np.ndarray | None:
        if not f.is_file():
            return None
        try:
            a = np.load(f, allow_pickle=False)
        except (ValueError, OSError) as exc:
            failed[item] = f"cannot read precomputed features of item {item!r} from {f}: {exc}"
            return None
        a = np.asarray(a, dtype=np.float32)
        if a.ndim == 2:
            a = a.mean(axis=0)
        if a.ndim != 1:
            failed[item] = f"precomputed features of item {item!r} in {f} have shape {a.shape}; expected (d,) or (t, d)"
            return None
        return a
