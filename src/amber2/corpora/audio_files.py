"""Cheap checks of the audio files a corpus table points to.

A check never decodes audio: it stats the file, recognises empty files and Git LFS pointers (see
:mod:`amber2.utils.lfs`), and reads the header with :func:`soundfile.info` for the duration. With
``check=False`` nothing is touched at all (``audio_status = "unchecked"``), which is what one wants
for a first look at MSP-Podcast's 200k files.

Statuses (the ``audio_status`` column): ``ok`` (a file whose header was read, or a file soundfile
cannot parse, recorded as an ``unreadable_audio_header`` issue), ``missing``, ``lfs_pointer``,
``empty``, ``unchecked``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from amber2.utils.lfs import LFS_HINT, LfsPointerError, is_lfs_pointer, lfs_pointer_message
from amber2.utils.logging import get_logger
from amber2.utils.progress import progress_bar

if TYPE_CHECKING:
    from amber2.corpora.table import CorpusBuilder

__all__ = ["AudioProbe", "check_item_audio", "ensure_audio_file", "probe_audio", "probe_audio_files"]

log = get_logger(__name__)


@dataclass(frozen=True)
class AudioProbe:
    """What a cheap look at one audio file found.

    Attributes:
        status: ``ok`` | ``missing`` | ``lfs_pointer`` | ``empty`` | ``unchecked``.
        duration: Seconds (frames / sample rate) when the header was readable, else None.
        detail: Why the header could not be read (or None).
    """

    status: str
    duration: float | None = None
    detail: str | None = None


def probe_audio(path: str | os.PathLike[str] | None) -> AudioProbe:
    """Classify one audio file without decoding it.

    Args:
        path: The file (None counts as missing).

    Returns:
        An :class:`AudioProbe`; ``duration = frames / samplerate`` from the header when readable.
    """
    if path is None:
        return AudioProbe("missing")
    try:
        size = os.stat(path).st_size
    except OSError:
        return AudioProbe("missing")
    if size == 0:
        return AudioProbe("empty")
    if size <= 1024 and is_lfs_pointer(path):
        return AudioProbe("lfs_pointer")
    import soundfile as sf

    try:
        info = sf.info(os.fspath(path))
    except Exception as exc:  # libsndfile raises several types for unknown or broken headers
        return AudioProbe("ok", None, f"{type(exc).__name__}: {exc}")
    duration = info.frames / info.samplerate if info.samplerate else None
    return AudioProbe("ok", duration)


def probe_audio_files(
    paths: Sequence[str | os.PathLike[str] | None],
    *,
    workers: int | None = None,
    progress: bool = False,
) -> list[AudioProbe]:
    """Probe many files (threads: the work is file-system bound).

    Args:
        paths: The files, in item order.
        workers: Threads (default ``min(16, 4 * cpu_count)``); 1 probes in this thread.
        progress: Show a progress bar.

    Returns:
        One :class:`AudioProbe` per path, in order.
    """
    n = len(paths)
    if workers is None:
        workers = min(16, 4 * (os.cpu_count() or 1))
    out: list[AudioProbe] = []
    with progress_bar(progress and n > 0, transient=True) as bar:
        task = bar.add_task("checking audio", total=n)
        if workers <= 1 or n < 64:
            for p in paths:
                out.append(probe_audio(p))
                bar.advance(task)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for probe in pool.map(probe_audio, paths, chunksize=256):
                    out.append(probe)
                    bar.advance(task)
    return out


def check_item_audio(
    builder: CorpusBuilder,
    ids: Sequence[str],
    paths: Sequence[str | os.PathLike[str] | None],
    *,
    check: bool = True,
    known_durations: Sequence[float | None] | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """Set ``audio_status`` and ``duration`` of items already added to ``builder``, recording issues.

    Every problem becomes an issue of the builder: ``missing_audio``, ``empty_audio``,
    ``lfs_pointer`` (with the ``git lfs pull`` hint) and ``unreadable_audio_header``. A duration read
    from the header replaces a duration the release states (``known_durations``); an unreadable file
    keeps the stated one.

    Args:
        builder: The builder holding the items.
        ids: Item ids.
        paths: Their audio paths (None = no audio known).
        check: If False, items with a path get ``unchecked`` (items without one ``missing``).
        known_durations: Durations the release gives (seconds or None), kept when not re-read.
        workers: Threads for :func:`probe_audio_files`.
        progress: Show a progress bar.

    Returns:
        Counts per status.
    """
    if check:
        probes = probe_audio_files(paths, workers=workers, progress=progress)
    else:
        probes = [AudioProbe("missing") if p is None else AudioProbe("unchecked") for p in paths]
    counts: dict[str, int] = {}
    for k, (item_id, path, probe) in enumerate(zip(ids, paths, probes, strict=True)):
        counts[probe.status] = counts.get(probe.status, 0) + 1
        values: dict[str, object] = {"audio_status": probe.status}
        if probe.duration is not None:
            values["duration"] = float(probe.duration)
        elif known_durations is not None and known_durations[k] is not None:
            values["duration"] = float(known_durations[k])  # type: ignore[arg-type]
        builder.update_item(item_id, **values)
        if probe.status == "missing":
            where = "no audio path is given" if path is None else f"{os.fspath(path)} does not exist"
            builder.issue("missing_audio", item_id, where)
        elif probe.status == "empty":
            builder.issue("empty_audio", item_id, f"{os.fspath(path)} is an empty file")  # type: ignore[arg-type]
        elif probe.status == "lfs_pointer":
            builder.issue("lfs_pointer", item_id, lfs_pointer_message(path))  # type: ignore[arg-type]
        elif probe.detail is not None:
            builder.issue("unreadable_audio_header", item_id,
                          f"{os.fspath(path)}: soundfile cannot read the header ({probe.detail})")  # type: ignore[arg-type]
    if counts.get("lfs_pointer"):
        log.warning("%d audio file(s) are Git LFS pointers, not audio: %s", counts["lfs_pointer"], LFS_HINT)
    if counts.get("missing"):
        log.warning("%d audio file(s) are missing", counts["missing"])
    return counts


def ensure_audio_file(path: str | os.PathLike[str] | None, item_id: str | None = None) -> Path:
    """Return ``path`` if it holds audio worth decoding, else raise an error that says what is wrong.

    Call it before handing a file to a decoder: a Git LFS pointer gets an explanation and the
    ``git lfs pull`` hint instead of a decoder error.

    Args:
        path: The audio file.
        item_id: The utterance id (named in the message).

    Returns:
        The path.

    Raises:
        FileNotFoundError: No path, or the file does not exist.
        LfsPointerError: The file is a Git LFS pointer.
        ValueError: The file is empty.
    """
    who = f"item {item_id!r}: " if item_id else ""
    if path is None:
        raise FileNotFoundError(f"{who}no audio path")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{who}audio file {p} does not exist")
    if p.stat().st_size == 0:
        raise ValueError(f"{who}audio file {p} is empty")
    if is_lfs_pointer(p):
        raise LfsPointerError(lfs_pointer_message(p, item_id))
    return p
