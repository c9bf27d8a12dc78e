r"""Transcripts of the simulated corpus: sentence templates, an emotion lexicon, a crude syllabifier.

The words of an utterance carry the *text* channel of the simulation. A sentence is either a neutral
sentence (no emotion word) or an emotional frame filled with one emotion word (an adjective graded by
strength 1-3, e.g. ``annoyed`` 1 < ``angry`` 2 < ``furious`` 3), an optional degree modifier
(``a little`` x0.6 ... ``absolutely`` x1.5) and, for strong items, a second emotional clause
(``This is ridiculous!``). Its **lexical strength** is

.. math::

    S_c = a_c \, m + x_c,

with :math:`a_c` the adjective's strength, :math:`m` the modifier's factor and :math:`x_c` the added
clause's strength (all zero for classes the sentence does not mention). The generator picks the
combination whose strength is closest to the target :math:`S^*(t) = 0.6 + 3.4\,t` for the item's text
intensity :math:`t \in [0, 1]`; simulated raters read :math:`S` (with noise) as text evidence. Some weak
items use a lexically ambiguous word instead (``upset``: angry 0.9 and sad 0.9, see :data:`MIXED_WORDS`).

The transcript also drives the audio: :func:`syllabify` splits it into syllables (vowel groups of each
word), each with a vowel quality (from its vowel letter), an onset consonant class and a stress flag,
and marks pauses at punctuation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CLASSES",
    "EMOTION_WORDS",
    "EXTRA_CLAUSES",
    "MIXED_WORDS",
    "MODIFIERS",
    "NEUTRAL_SENTENCES",
    "NEUTRAL_WORDS",
    "TEMPLATES",
    "TOPICS",
    "Syllable",
    "Transcript",
    "compose_transcript",
    "syllabify",
    "target_strength",
]

#: The paper's four classes, in the order used for every per-class array of the simulation.
CLASSES: tuple[str, ...] = ("neutral", "happy", "angry", "sad")

#: Emotion adjectives (or adjective phrases) by class and strength (1 mild, 2 clear, 3 strong).
EMOTION_WORDS: dict[str, dict[int, tuple[str, ...]]] = {
    "happy": {
        1: ("glad", "pleased", "content", "cheerful", "in a good mood"),
        2: ("happy", "delighted", "joyful", "excited", "grateful"),
        3: ("thrilled", "overjoyed", "ecstatic", "over the moon", "elated"),
    },
    "angry": {
        1: ("annoyed", "irritated", "bothered", "irked", "put out"),
        2: ("angry", "mad", "cross", "fed up", "resentful"),
        3: ("furious", "livid", "outraged", "enraged", "seething"),
    },
    "sad": {
        1: ("down", "blue", "disappointed", "low", "glum"),
        2: ("sad", "unhappy", "gloomy", "hurt", "lonely"),
        3: ("heartbroken", "devastated", "miserable", "crushed", "in despair"),
    },
}

#: Lexically ambiguous words: one fixed strength per class they suggest (``upset``: angry or sad?). A
#: weak item of a class whose strength in the word is the largest (ties included) may say one of them
#: instead of a plain word.
MIXED_WORDS: tuple[tuple[str, dict[str, float]], ...] = (
    ("upset", {"angry": 0.9, "sad": 0.9}),
    ("not happy", {"angry": 0.8, "sad": 0.8}),
    ("emotional", {"happy": 0.8, "sad": 0.8}),
    ("overwhelmed", {"happy": 0.7, "sad": 0.7}),
    ("worked up", {"angry": 0.9, "happy": 0.6}),
    ("stirred up", {"happy": 0.9, "angry": 0.6}),
)

#: Neutral fillers for the emotional frames (they carry no emotion evidence).
NEUTRAL_WORDS: tuple[str, ...] = (
    "fine", "okay", "alright", "not sure", "calm", "ready", "informed", "busy", "aware",
)

#: Degree modifiers and their factor on the adjective's strength.
MODIFIERS: tuple[tuple[str, float], ...] = (
    ("a little", 0.6), ("kind of", 0.7), ("", 1.0), ("really", 1.3), ("so", 1.3), ("absolutely", 1.5),
)

#: Emotional clauses appended to strong items, by class and strength.
EXTRA_CLAUSES: dict[str, tuple[tuple[str, float], ...]] = {
    "happy": (("This is great!", 1.0), ("How lovely!", 1.0), ("I love it!", 1.5), ("Best day ever!", 1.5)),
    "angry": (("Unbelievable!", 1.0), ("Enough!", 1.0), ("I hate this!", 1.5), ("How dare they!", 1.5)),
    "sad": (("It hurts.", 1.0), ("I miss it.", 1.0), ("I could cry.", 1.5), ("It's hopeless.", 1.5)),
}

#: Emotional frames: ``{adj}`` takes the (modified) emotion word, ``{topic}`` a neutral noun phrase.
TEMPLATES: tuple[str, ...] = (
    "I am {adj} about {topic}.",
    "Honestly, I feel {adj} about {topic}.",
    "I was {adj} when I heard about {topic}.",
    "You know, I'm {adj} about {topic}.",
    "After {topic}, I felt {adj}.",
    "To be honest, {topic} left me {adj}.",
    "I have been {adj} since {topic}.",
    "Well, I'm {adj}, because of {topic}.",
    "Thinking about {topic}, I feel {adj}.",
    "Yesterday I was {adj} about {topic}.",
)

#: Neutral noun phrases for ``{topic}``.
TOPICS: tuple[str, ...] = (
    "the new schedule", "the meeting", "my brother's visit", "the test results", "the job offer",
    "the trip", "the apartment", "the car repair", "the project", "the weekend", "the phone call",
    "the bank letter", "the interview", "the game", "the wedding plans", "the old house",
    "the neighbours", "the report", "the dinner party", "the move", "the exam", "the garden",
    "the team meeting", "the holiday plans",
)

#: Neutral sentences (no emotion word), with ``{topic}`` slots in some.
NEUTRAL_SENTENCES: tuple[str, ...] = (
    "The meeting is on Tuesday at ten.",
    "Please send me the file before Friday.",
    "I will take the bus to the station.",
    "We need to check {topic} again next week.",
    "Let me know what you think about {topic}.",
    "The train leaves at half past seven.",
    "She said the office closes at five today.",
    "Can you bring the papers for {topic}?",
    "I put the keys on the kitchen table.",
    "We talked about {topic} this morning.",
    "The package should arrive by the end of next week.",
    "He called about {topic} an hour ago.",
    "Turn left at the corner, then walk two blocks.",
    "I think the store opens at nine in the morning.",
    "We can discuss {topic} tomorrow after lunch.",
    "They moved the desk to the other room.",
)


def target_strength(intensity: float) -> float:
    r"""Lexical strength a text intensity asks for: :math:`S^*(t) = 0.6 + 3.4\,t`.

    Args:
        intensity: Text intensity in [0, 1].

    Returns:
        The target strength in [0.6, 4.0].
    """
    return 0.6 + 3.4 * float(np.clip(intensity, 0.0, 1.0))


# All (adjective strength, modifier index, clause strength) combinations, with their total strength.
def _combinations() -> list[tuple[int, int, float, float]]:
    out = []
    for a in (1, 2, 3):
        for mi, (_, mf) in enumerate(MODIFIERS):
            for x in (0.0, 1.0, 1.5):
                s = a * mf + x
                if x > 0 and a * mf < 1.9:  # a clause only follows a clear or strong word
                    continue
                out.append((a, mi, x, s))
    return out


_COMBOS = _combinations()


@dataclass(frozen=True)
class Transcript:
    """A composed transcript and its lexical emotion content.

    Attributes:
        text: The sentence(s).
        strength: Lexical strength :math:`S_c` per class, in :data:`CLASSES` order (neutral is 0); an
            ambiguous word gives two classes a strength.
        emotion: The class the words were chosen for (``neutral`` for a neutral sentence).
    """

    text: str
    strength: tuple[float, float, float, float]
    emotion: str


def compose_transcript(
    rng: np.random.Generator, emotion: str, intensity: float, *, mixed_share: float = 0.3,
) -> Transcript:
    r"""Compose a transcript whose words carry ``emotion`` at text ``intensity``.

    A neutral emotion (or intensity 0 with a neutral class) yields a neutral sentence or an emotional
    frame with a neutral filler (``I am fine about the report.``). Otherwise the combination of
    adjective strength a, modifier m and clause x is drawn at random among those within 0.35 of
    :func:`target_strength` (the nearest one if none is), so that :math:`S_c = a\,m + x \approx S^*`.
    A weak item (:math:`S^* \le 1.5`) says, with probability ``mixed_share``, a lexically ambiguous word
    of :data:`MIXED_WORDS` instead (``I am a little upset about the move.``): its strengths (times the
    modifier) go to every class the word suggests, so the words alone cannot tell the class.

    Args:
        rng: Random generator (consumed).
        emotion: One of :data:`CLASSES`.
        intensity: Text intensity in [0, 1] (ignored for ``neutral``).
        mixed_share: Probability that a weak item uses an ambiguous word, in [0, 1].

    Returns:
        The :class:`Transcript`.

    Raises:
        ValueError: If ``emotion`` is not one of :data:`CLASSES` or intensity is not in [0, 1].
    """
    if emotion not in CLASSES:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {CLASSES}")
    if not (0.0 <= float(intensity) <= 1.0) or not np.isfinite(intensity):
        raise ValueError(f"text intensity must be in [0, 1], got {intensity!r}")
    if not (0.0 <= float(mixed_share) <= 1.0):
        raise ValueError(f"mixed_share must be in [0, 1], got {mixed_share!r}")
    topic = TOPICS[rng.integers(len(TOPICS))]
    strength = [0.0, 0.0, 0.0, 0.0]
    if emotion == "neutral":
        if rng.random() < 0.5:
            text = NEUTRAL_SENTENCES[rng.integers(len(NEUTRAL_SENTENCES))].format(topic=topic)
        else:
            word = NEUTRAL_WORDS[rng.integers(len(NEUTRAL_WORDS))]
            text = TEMPLATES[rng.integers(len(TEMPLATES))].format(adj=word, topic=topic)
        return Transcript(_capitalise(text), (0.0, 0.0, 0.0, 0.0), "neutral")
    target = target_strength(intensity)
    mixed = [m for m in MIXED_WORDS if m[1].get(emotion, 0.0) == max(m[1].values())]
    if mixed and target <= 1.5 and rng.random() < mixed_share:
        word, vec = mixed[rng.integers(len(mixed))]
        main = vec[emotion]
        factors = np.array([f for _, f in MODIFIERS])
        near = np.flatnonzero(np.abs(main * factors - target) <= 0.35)
        if near.size == 0:
            near = np.array([int(np.argmin(np.abs(main * factors - target)))])
        modifier, factor = MODIFIERS[int(near[rng.integers(near.size)])]
        adj = f"{modifier} {word}" if modifier else word
        text = TEMPLATES[rng.integers(len(TEMPLATES))].format(adj=adj, topic=topic)
        for c, v in vec.items():
            strength[CLASSES.index(c)] = round(float(v * factor), 6)
        return Transcript(_capitalise(text), (strength[0], strength[1], strength[2], strength[3]), emotion)
    totals = np.array([c[3] for c in _COMBOS])
    near = np.flatnonzero(np.abs(totals - target) <= 0.35)
    if near.size == 0:
        near = np.array([int(np.argmin(np.abs(totals - target)))])
    a, mi, x, s = _COMBOS[int(near[rng.integers(near.size)])]
    words = EMOTION_WORDS[emotion][a]
    word = words[rng.integers(len(words))]
    modifier = MODIFIERS[mi][0]
    adj = f"{modifier} {word}" if modifier else word
    text = TEMPLATES[rng.integers(len(TEMPLATES))].format(adj=adj, topic=topic)
    if x > 0:
        options = [c for c in EXTRA_CLAUSES[emotion] if c[1] == x]
        text = f"{text} {options[rng.integers(len(options))][0]}"
    strength[CLASSES.index(emotion)] = round(float(s), 6)
    return Transcript(_capitalise(text), (strength[0], strength[1], strength[2], strength[3]), emotion)


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


# ---------------------------------------------------------------------------- syllables

@dataclass(frozen=True)
class Syllable:
    """One syllable of a transcript, as the voice model needs it.

    Attributes:
        vowel: Vowel quality, one of ``a e i o u @`` (``@`` = schwa, for ``y``-only syllables).
        onset: Onset consonant class: ``none``, ``stop``, ``fricative`` or ``sonorant``.
        stressed: First syllable of a content word (longer than three letters): a pitch-accent site.
        pause_after: Pause that follows, in units of a short pause: 0 none, 1 comma, 2 sentence end.
        word_final: Last syllable of its word.
    """

    vowel: str
    onset: str
    stressed: bool
    pause_after: int
    word_final: bool


_STOPS = set("pbtdkgcq")
_FRICATIVES = set("fvszhxj")
_WORD = re.compile(r"[A-Za-z']+|[,;:]|[.!?]")
_VOWELS = "aeiouy"


def _onset_class(cons: str) -> str:
    """Onset class of a consonant cluster: a fricative digraph, else any stop, else any fricative."""
    if not cons:
        return "none"
    if any(d in cons for d in ("sh", "th", "ch", "ph")):
        return "fricative"
    if any(c in _STOPS for c in cons):
        return "stop"
    if any(c in _FRICATIVES for c in cons):
        return "fricative"
    return "sonorant"


def syllabify(text: str) -> list[Syllable]:
    """Split a transcript into syllables: one per vowel group of each word (silent final ``e`` dropped).

    A crude English syllabifier, enough to give the synthetic voice a syllable count, vowel qualities
    and pauses that follow the words: ``"I am glad, really."`` gives 5 syllables with a comma pause
    after ``glad`` and a sentence pause at the end.

    Args:
        text: The transcript.

    Returns:
        The syllables in order.

    Raises:
        ValueError: If the text holds no word with a vowel.
    """
    out: list[Syllable] = []
    for tok in _WORD.findall(text):
        if tok in ",;:" or tok in ".!?":
            if out:
                last = out[-1]
                pause = 1 if tok in ",;:" else 2
                out[-1] = Syllable(last.vowel, last.onset, last.stressed, max(last.pause_after, pause),
                                   last.word_final)
            continue
        word = tok.lower().replace("'", "")
        if len(word) > 2 and word.endswith("e") and word[-2] not in _VOWELS and any(
            ch in _VOWELS for ch in word[:-1]
        ):
            word = word[:-1]
        groups = list(re.finditer(r"[aeiouy]+", word))
        if not groups:
            continue
        content = len(word) > 3
        prev_end = 0
        for k, g in enumerate(groups):
            cons = word[prev_end:g.start()]
            letters = g.group()
            vowel = next((ch for ch in letters if ch in "aeiou"), "@")
            out.append(Syllable(
                vowel=vowel, onset=_onset_class(cons), stressed=content and k == 0, pause_after=0,
                word_final=k == len(groups) - 1,
            ))
            prev_end = g.end()
    if not out:
        raise ValueError(f"transcript {text!r} holds no syllable")
    return out
