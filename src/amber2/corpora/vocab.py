"""Release spellings of emotion labels and their canonical amber2 names.

Every reader maps the words, codes and letters a corpus release uses to the canonical lower-case class
names of the corpus table (see :mod:`amber2.corpora.table`). Merging classes (``excited`` into
``happy``, dropping ``other``) is *not* done here: that is a label policy's job.
"""

from __future__ import annotations

import re

__all__ = [
    "CANONICAL_LABELS",
    "CREMA_D_EMOTIONS",
    "CREMA_D_LETTERS",
    "CREMA_D_SENTENCES",
    "IEMOCAP_CODES",
    "IEMOCAP_WORDS",
    "MSP_LETTERS",
    "MSP_WORDS",
    "canonical_label",
    "split_other",
]

#: Canonical class names used across corpora (readers may emit others for unknown words), in the order a
#: label policy gives inferred classes (label policies use this tuple directly).
CANONICAL_LABELS: tuple[str, ...] = (
    "neutral", "happy", "excited", "angry", "sad", "frustrated", "surprise", "fear", "disgust",
    "contempt", "other", "amused", "depressed", "concerned", "disappointed", "confused", "annoyed",
)

#: IEMOCAP categorical words (EmoEvaluation ``C-*`` lines) -> canonical names.
IEMOCAP_WORDS: dict[str, str] = {
    "neutral": "neutral", "neutral state": "neutral",
    "happiness": "happy", "happy": "happy",
    "excited": "excited", "excitement": "excited",
    "sadness": "sad", "sad": "sad",
    "anger": "angry", "angry": "angry",
    "frustration": "frustrated", "frustrated": "frustrated",
    "surprise": "surprise", "surprised": "surprise",
    "fear": "fear", "fearful": "fear",
    "disgust": "disgust", "disgusted": "disgust",
    "other": "other",
}

#: IEMOCAP consensus codes of the turn lines -> canonical names (``xxx`` = no majority -> None).
IEMOCAP_CODES: dict[str, str | None] = {
    "neu": "neutral", "hap": "happy", "exc": "excited", "ang": "angry", "sad": "sad",
    "fru": "frustrated", "sur": "surprise", "fea": "fear", "dis": "disgust", "oth": "other", "xxx": None,
}

#: MSP-Podcast primary and secondary words -> canonical names (``Other-<text>`` is handled apart).
MSP_WORDS: dict[str, str] = {
    "angry": "angry", "anger": "angry",
    "sad": "sad", "sadness": "sad",
    "happy": "happy", "happiness": "happy",
    "surprise": "surprise", "surprised": "surprise",
    "fear": "fear",
    "disgust": "disgust", "disgusted": "disgust",
    "contempt": "contempt",
    "neutral": "neutral",
    "other": "other",
    "amused": "amused",
    "frustrated": "frustrated",
    "depressed": "depressed",
    "concerned": "concerned",
    "disappointed": "disappointed", "dissapointed": "disappointed",
    "excited": "excited",
    "confused": "confused",
    "annoyed": "annoyed",
}

#: MSP-Podcast consensus letters (``EmoClass``) -> canonical names (``X`` = no agreement -> None).
MSP_LETTERS: dict[str, str | None] = {
    "A": "angry", "S": "sad", "H": "happy", "U": "surprise", "F": "fear", "D": "disgust",
    "C": "contempt", "N": "neutral", "O": "other", "X": None,
}

#: CREMA-D vote columns of ``tabulatedVotes.csv`` -> canonical names, in the release's column order.
CREMA_D_LETTERS: dict[str, str] = {
    "A": "angry", "D": "disgust", "F": "fear", "H": "happy", "N": "neutral", "S": "sad",
}

#: CREMA-D emotion codes of the file names -> canonical names.
CREMA_D_EMOTIONS: dict[str, str] = {
    "ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad",
}

#: CREMA-D sentence codes of the file names -> the sentence spoken.
CREMA_D_SENTENCES: dict[str, str] = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}

_OTHER = re.compile(r"^\s*other\s*(?:[-:]\s*(.*?))?\s*$", re.IGNORECASE | re.DOTALL)


def split_other(word: str) -> tuple[bool, str | None]:
    """Recognise ``Other`` and ``Other-<free text>`` (MSP-Podcast) and return the free text.

    Args:
        word: A label word as released.

    Returns:
        ``(True, text or None)`` if the word is an *other* label, else ``(False, None)``.
    """
    m = _OTHER.match(word)
    if not m:
        return False, None
    text = m.group(1)
    return True, (text if text else None)


def canonical_label(word: str, table: dict[str, str]) -> tuple[str, bool]:
    """Map a released label word to its canonical name.

    Args:
        word: The word as released (any case, surrounding blanks allowed).
        table: The corpus's word table (:data:`IEMOCAP_WORDS`, :data:`MSP_WORDS`).

    Returns:
        ``(name, known)``: the canonical name, or the lower-cased word with ``known=False`` when the
        word is not in the table (the caller records an issue and keeps the vote).
    """
    key = " ".join(word.strip().lower().split())
    if key in table:
        return table[key], True
    return key, False
