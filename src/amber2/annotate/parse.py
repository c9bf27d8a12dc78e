"""Reply -> class: the one label a model's answer names, or why it names none.

Order of the rules (every comparison on the lower-cased reply, stripped of spaces, quotes and
punctuation at its ends):

1. ``exact``: the reply is a class's canonical or display name (``angry``, ``anger``);
2. ``synonym``: the reply is one of a class's synonyms (``furious``);
3. ``substring``: exactly one class has a name or synonym occurring in the reply as a whole word or
   phrase (``"The emotion is anger."``). Whole words, not raw substrings, so that ``unhappy`` is not read
   as ``happy``; two or more classes named (``"not angry, just sad"``) is ``ambiguous``.

Anything else is no vote: ``empty`` (nothing but spaces/punctuation) or ``unparseable`` / ``ambiguous``;
the reply is kept for audit either way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from amber2.annotate.prompts import AnnotatorPreset

__all__ = ["PARSE_OUTCOMES", "ParsedReply", "ReplyParser"]

#: How a reply was read: the first three give a vote.
PARSE_OUTCOMES = ("exact", "synonym", "substring", "empty", "ambiguous", "unparseable")

_EDGES = " \t\r\n\"'`.,;:!?()[]{}*_-"


@dataclass(frozen=True)
class ParsedReply:
    """The class a reply names (or None) and how it was found (one of :data:`PARSE_OUTCOMES`)."""

    label: str | None
    how: str

    @property
    def is_vote(self) -> bool:
        """True when the reply gives a vote."""
        return self.label is not None


class ReplyParser:
    """Match replies to the classes of one annotation run.

    Args:
        classes: Canonical class names of the run.
        preset: The preset whose display names and synonyms apply. A term that names two classes of the
            run (e.g. a synonym that is another class's name) is dropped for all but the class it names
            first (the class itself).
    """

    def __init__(self, classes: Sequence[str], preset: AnnotatorPreset):
        self.classes = [str(c) for c in classes]
        if not self.classes:
            raise ValueError("no classes to parse replies into")
        own = {c.lower(): c for c in self.classes}
        own.update({preset.display(c).lower(): c for c in self.classes})
        self._exact = own
        self._synonym: dict[str, str] = {}
        for c in self.classes:
            for t in preset.terms(c):
                if t not in own and t not in self._synonym:
                    self._synonym[t] = c
        terms = sorted({**self._synonym, **own}.items(), key=lambda kv: -len(kv[0]))
        self._patterns = [(re.compile(rf"(?<![a-z]){re.escape(t)}(?![a-z])"), c) for t, c in terms]

    def __call__(self, reply: str | None) -> ParsedReply:
        """Read one reply."""
        return self._parse(reply or "")

    @lru_cache(maxsize=4096)  # noqa: B019 - parsers live as long as a run; replies repeat a lot
    def _parse(self, reply: str) -> ParsedReply:
        text = " ".join(reply.lower().split()).strip(_EDGES)
        if not text:
            return ParsedReply(None, "empty")
        if text in self._exact:
            return ParsedReply(self._exact[text], "exact")
        if text in self._synonym:
            return ParsedReply(self._synonym[text], "synonym")
        found = {c for pat, c in self._patterns if pat.search(text)}
        if len(found) == 1:
            return ParsedReply(found.pop(), "substring")
        return ParsedReply(None, "ambiguous" if found else "unparseable")
