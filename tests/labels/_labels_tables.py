"""Tables built by hand with CorpusBuilder, exactly as the corpus readers build them."""

from __future__ import annotations

from amber2.corpora.table import CorpusBuilder, CorpusTable

# Three real EmoEvaluation blocks (TAB-separated, as released; docs/corpora.md, IEMOCAP).
IEMOCAP_BLOCKS = (
    "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
    "C-E2:\tNeutral;\t()\n"
    "C-E3:\tNeutral;\t()\n"
    "C-E4:\tNeutral;\t()\n"
    "C-F1:\tNeutral;\t(curious)\n"
    "A-E3:\tval 3; act 2; dom  2;\t()\n"
    "A-E4:\tval 2; act 3; dom  3;\t(mildly aggravated but staying polite, attitude)\n"
    "A-F1:\tval 3; act 2; dom  1;\t()\n"
    "\n"
    "[204.8100 - 206.6000]\tSes01M_impro07_M033\thap\t[3.5000, 2.5000, 1.5000]\n"
    "C-E1:\tExcited;\t()\n"
    "C-E2:\tHappiness;\t()\n"
    "C-E6:\tHappiness;\t()\n"
    "C-M1:\tHappiness;\t()\n"
    "A-E1:\tval 3; act 2; dom  2;\t()\n"
    "A-E3:\tval 4; act 3; dom  1;\t()\n"
    "A-M1:\tval 4; act 3; dom  3;\t()\n"
    "\n"
    "[16.4840 - 19.7791]\tSes02F_impro01_F001\tsur\t[2.0000, 2.5000, 2.5000]\n"
    "C-E1:\tExcited;\t()\n"
    "C-E2:\tSurprise;\t()\n"
    "C-E6:\tSurprise;\t()\n"
    "C-F2:\tFrustration; Other;\t(disbelief)\n"
    "A-E3:\tval 2; act 2; dom  2;\t()\n"
    "A-E4:\tval 2; act 3; dom  3;\t(unpleasantly surprised, attitude, skeptical)\n"
    "A-F2:\tval 2; act 2; dom  2;\t()\n"
)

_WORDS = {
    "Neutral": "neutral", "Happiness": "happy", "Excited": "excited", "Sadness": "sad", "Anger": "angry",
    "Frustration": "frustrated", "Surprise": "surprise", "Fear": "fear", "Disgust": "disgust", "Other": "other",
}


def iemocap_table(text: str) -> CorpusTable:
    """Build a corpus table from EmoEvaluation blocks exactly as the IEMOCAP reader does.

    ``C-E2:\\tNeutral;\\t()`` -> rater ``E2``, kind ``external``, labels ``["neutral"]``; ``C-F1:`` /
    ``C-M1:`` -> kind ``self``; ``C-F2:\\tFrustration; Other;\\t(disbelief)`` -> labels
    ``["frustrated", "other"]``, note ``disbelief``; ``C-F2:\\t;\\t()`` -> labels ``[]``.
    """
    b = CorpusBuilder("iemocap", None, "tests.labels")
    for block in text.strip("\n").split("\n\n"):
        lines = block.splitlines()
        _, uid, code, _ = lines[0].split("\t")
        b.add_item(uid, speaker=uid[:5] + uid.rsplit("_", 1)[1][0], group=uid[:5], consensus=code)
        for line in lines[1:]:
            tag, payload, note = line.split("\t")
            if not tag.startswith("C-"):
                continue
            rater = tag[2:-1]
            labels = [_WORDS[w.strip()] for w in payload.split(";") if w.strip()]
            b.add_vote(uid, rater=rater, kind="external" if rater.startswith("E") else "self",
                       labels=labels, note=note.strip()[1:-1] or None)
    return b.build()


def block(uid: str, code: str, *ratings: str) -> str:
    """One EmoEvaluation block from ``"E1 Excited"``-style ratings (``"F2 Frustration; Other"``)."""
    lines = [f"[1.0000 - 2.0000]\t{uid}\t{code}\t[2.5000, 2.5000, 2.5000]"]
    for r in ratings:
        rater, _, words = r.partition(" ")
        payload = "".join(f"{w.strip()}; " for w in words.split(";") if w.strip()).rstrip(" ")
        lines.append(f"C-{rater}:\t{payload or ';'}\t()")
    return "\n".join(lines) + "\n"


def table_from(votes: dict[str, list[tuple]], corpus: str = "test", **metadata: dict[str, object]) -> CorpusTable:
    """A table from ``{item: [(rater, kind, labels[, secondary]), ...]}`` plus per-item metadata columns."""
    b = CorpusBuilder(corpus, None, "tests.labels")
    for uid, rows in votes.items():
        b.add_item(uid, **{k: v[uid] for k, v in metadata.items() if uid in v})
        for row in rows:
            rater, kind, labels, *rest = row
            b.add_vote(uid, rater=rater, kind=kind, labels=labels, secondary=rest[0] if rest else ())
    return b.build()
