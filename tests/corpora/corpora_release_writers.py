"""Writers of small corpus releases in the exact on-disk formats of docs/corpora.md (real TAB characters).

Each writer returns the folder it wrote and documents what the test suite may expect from it.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np

#: A slice of CREMA-D's rater tables kept in the repository (see its README for what and the licence).
CREMA_D_DATA = Path(__file__).resolve().parents[1] / "data" / "crema-d"
CREMA_D_VOTE_PARTS = ("tabulatedVotes_1001_clips1-40.csv", "tabulatedVotes_more_actors.csv")
#: One real CREMA-D clip and a Git LFS pointer, kept in the repository (see its README for the licence).
ASSETS = Path(__file__).resolve().parents[1] / "inference" / "assets"
LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:c992e624c48a6119b5635ef7b606aea28d45d02c397b9bd85f7e5a2c2656ac65\n"
    "size 74786\n"
)
T = "\t"


def write_wav(path: Path, seconds: float = 0.25, sr: int = 16000) -> Path:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, 0.1 * np.sin(2 * np.pi * 220 * t), sr, subtype="PCM_16")
    return path


def write_pointer(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(LFS_POINTER)
    return path


# ---------------------------------------------------------------------------------------------- IEMOCAP
IEMOCAP_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"

#: Three real EmoEvaluation blocks (docs/corpora.md).
BLOCK_F000 = (
    f"[6.2901 - 8.2357]{T}Ses01F_impro01_F000{T}neu{T}[2.5000, 2.5000, 2.5000]\n"
    f"C-E2:{T}Neutral;{T}()\n"
    f"C-E3:{T}Neutral;{T}()\n"
    f"C-E4:{T}Neutral;{T}()\n"
    f"C-F1:{T}Neutral;{T}(curious)\n"
    f"A-E3:{T}val 3; act 2; dom  2;{T}()\n"
    f"A-E4:{T}val 2; act 3; dom  3;{T}(mildly aggravated but staying polite, attitude)\n"
    f"A-F1:{T}val 3; act 2; dom  1;{T}()\n"
)
BLOCK_M033 = (
    f"[204.8100 - 206.6000]{T}Ses01M_impro07_M033{T}hap{T}[3.5000, 2.5000, 1.5000]\n"
    f"C-E1:{T}Excited;{T}()\n"
    f"C-E2:{T}Happiness;{T}()\n"
    f"C-E6:{T}Happiness;{T}()\n"
    f"C-M1:{T}Happiness;{T}()\n"
    f"A-E1:{T}val 3; act 2; dom  2;{T}()\n"
    f"A-E3:{T}val 4; act 3; dom  1;{T}()\n"
    f"A-M1:{T}val 4; act 3; dom  3;{T}()\n"
)
BLOCK_F001 = (
    f"[16.4840 - 19.7791]{T}Ses02F_impro01_F001{T}sur{T}[2.0000, 2.5000, 2.5000]\n"
    f"C-E1:{T}Excited;{T}()\n"
    f"C-E2:{T}Surprise;{T}()\n"
    f"C-E6:{T}Surprise;{T}()\n"
    f"C-F2:{T}Frustration; Other;{T}(disbelief)\n"
    f"A-E3:{T}val 2; act 2; dom  2;{T}()\n"
    f"A-E4:{T}val 2; act 3; dom  3;{T}(unpleasantly surprised, attitude, skeptical)\n"
    f"A-F2:{T}val 2; act 2; dom  2;{T}()\n"
)


def _turn(start: float, end: float, uid: str, code: str, vad: str = "[2.5000, 2.5000, 2.5000]") -> str:
    return f"[{start:.4f} - {end:.4f}]{T}{uid}{T}{code}{T}{vad}\n"


def write_iemocap(root: Path) -> Path:
    """A 3-session IEMOCAP_full_release/ with every line form of docs/corpora.md.

    Items (14, each listed once; one repeated block is a duplicate id):

    * Ses01F_impro01_F000 (real block), Ses01F_impro01_M000 (fru: several labels ``Frustration;
      Sadness;``, an empty self payload ``C-M1:\\t;\\t()``, a duplicated C-E2 line, a garbage line),
      Ses01F_impro01_F001 (ang), Ses01F_impro01_M001 (xxx, every rater a different word),
      Ses01F_impro01_F002 (oth: every rater chose Other, free texts) - repeated later as a duplicate.
    * Ses01M_impro07_M033 (real block), Ses01M_impro07_F010 (exc; an A-only external rater E5).
    * Ses02F_impro01_F001 (real block), Ses02F_impro01_F000 (neu: E1 Excited, E2/E6 Neutral, F2 Neutral),
      Ses02F_impro01_M002 (sad: ``Sadness; Frustration;``), Ses02F_impro01_M003 (neu, a ``C-F2:\\t;\\t()``
      empty payload), Ses02F_impro01_F004 (fru: every rater Frustration).
    * Ses03M_script01_1b_M011 (neu), Ses03M_script01_1b_F012 (hap).

    Transcripts are missing for Ses02F_impro01_M003; audio: F000 real wav, M033 LFS pointer, F001 of
    session 1 empty file, Ses03M_script01_1b_F012 missing; every other item has a wav.
    Skipped: ``._*`` files, the Attribute/ Categorical/ Self-evaluation/ sub-folders, transcription lines
    with XX ids or not starting with ``Ses``.
    """
    base = root / "IEMOCAP_full_release"
    s1 = base / "Session1" / "dialog"
    s2 = base / "Session2" / "dialog"
    s3 = base / "Session3" / "dialog"
    for s in (s1, s2, s3):
        (s / "EmoEvaluation").mkdir(parents=True, exist_ok=True)
        (s / "transcriptions").mkdir(parents=True, exist_ok=True)
        for sub in ("Attribute", "Categorical", "Self-evaluation"):
            (s / "EmoEvaluation" / sub).mkdir(exist_ok=True)
    # sub-folder files and macOS twins that must be skipped
    (s1 / "EmoEvaluation" / "Categorical" / "Ses01F_impro01_e2_cat.txt").write_text(
        "Ses01F_impro01_F000 :Neutral state; ()\n")
    (s1 / "EmoEvaluation" / "Attribute" / "Ses01F_impro01_e3_atr.txt").write_text(
        "Ses01F_impro01_F000 :act 2; val 3; dom  2; ()\n")
    (s1 / "EmoEvaluation" / "._Ses01F_impro01.txt").write_bytes(b"\x00\x05\x16\x07Mac OS X        \x00\x02")
    (s1 / "transcriptions" / "._Ses01F_impro01.txt").write_bytes(b"\x00\x05\x16\x07Mac OS X")

    impro01 = (
        IEMOCAP_HEADER + BLOCK_F000 + "\n"
        + _turn(9.1, 11.4, "Ses01F_impro01_M000", "fru", "[2.0000, 3.5000, 3.0000]")
        + f"C-E1:{T}Frustration; Sadness;{T}()\n"
        + f"C-E2:{T}Frustration;{T}()\n"
        + f"C-E2:{T}Anger;{T}()\n"
        + f"C-E3:{T}Anger;{T}()\n"
        + f"C-M1:{T};{T}()\n"
        + "this line is garbage\n"
        + f"A-E1:{T}val 2; act 4; dom  3;{T}()\n\n"
        + _turn(12.0, 14.5, "Ses01F_impro01_F001", "ang")
        + f"C-E1:{T}Anger;{T}()\nC-E2:{T}Anger;{T}()\nC-E3:{T}Frustration;{T}()\nC-F1:{T}Anger;{T}()\n\n"
        + _turn(15.0, 16.0, "Ses01F_impro01_M001", "xxx")
        + f"C-E1:{T}Neutral;{T}()\nC-E2:{T}Sadness;{T}()\nC-E3:{T}Fear;{T}()\n\n"
        + _turn(16.5, 18.0, "Ses01F_impro01_F002", "oth")
        + f"C-E1:{T}Other;{T}(sarcastic)\nC-E2:{T}Other;{T}(bored)\nC-F1:{T}Other;{T}()\n\n"
        + _turn(19.0, 20.0, "Ses01F_impro01_F002", "neu")
        + f"C-E1:{T}Neutral;{T}()\n\n"
    )
    (s1 / "EmoEvaluation" / "Ses01F_impro01.txt").write_text(impro01)
    impro07 = (
        IEMOCAP_HEADER + BLOCK_M033 + "\n"
        + _turn(210.0, 213.25, "Ses01M_impro07_F010", "exc", "[4.0000, 4.0000, 3.0000]")
        + f"C-E1:{T}Excited;{T}()\nC-E2:{T}Excited;{T}()\nC-E3:{T}Happiness;{T}()\nC-F1:{T}Excited;{T}()\n"
        + f"A-E5:{T}val 4; act 4; dom  3;{T}()\n"
    )
    (s1 / "EmoEvaluation" / "Ses01M_impro07.txt").write_text(impro07)
    s2impro = (
        IEMOCAP_HEADER
        + _turn(5.0, 6.5, "Ses02F_impro01_F000", "neu")
        + f"C-E1:{T}Excited;{T}()\nC-E2:{T}Neutral;{T}()\nC-E6:{T}Neutral;{T}()\nC-F2:{T}Neutral;{T}()\n\n"
        + BLOCK_F001 + "\n"
        + _turn(20.0, 22.0, "Ses02F_impro01_M002", "sad")
        + f"C-E1:{T}Sadness; Frustration;{T}()\nC-E2:{T}Sadness;{T}()\nC-E3:{T}Sadness;{T}()\n\n"
        + _turn(23.0, 24.0, "Ses02F_impro01_M003", "neu")
        + f"C-E1:{T}Neutral;{T}()\nC-E2:{T}Neutral;{T}()\nC-F2:{T};{T}()\n\n"
        + _turn(25.0, 27.0, "Ses02F_impro01_F004", "fru")
        + f"C-E1:{T}Frustration;{T}()\nC-E2:{T}Frustration;{T}()\nC-E3:{T}Frustration;{T}()\n"
    )
    (s2 / "EmoEvaluation" / "Ses02F_impro01.txt").write_text(s2impro)
    s3script = (
        IEMOCAP_HEADER
        + _turn(1.0, 3.0, "Ses03M_script01_1b_M011", "neu")
        + f"C-E1:{T}Neutral;{T}()\nC-E2:{T}Neutral;{T}()\nC-E3:{T}Sadness;{T}()\n\n"
        + _turn(3.5, 5.0, "Ses03M_script01_1b_F012", "hap")
        + f"C-E1:{T}Happiness;{T}()\nC-E2:{T}Happiness;{T}()\nC-E3:{T}Excited;{T}()\n"
    )
    (s3 / "EmoEvaluation" / "Ses03M_script01_1b.txt").write_text(s3script)

    (s1 / "transcriptions" / "Ses01F_impro01.txt").write_text(
        "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\n"
        "Ses01F_impro01_M000 [009.1000-011.4000]: Do you have your forms?\n"
        "Ses01F_impro01_MXX0 [011.5000-011.9000]: [BREATHING]\n"
        "Ses01F_impro01_F001 [012.0000-014.5000]: Yeah. [LAUGHTER] Sure.\n"
        "Ses01F_impro01_M001 [015.0000-016.0000]: Let me see them.\n"
        "Ses01F_impro01_F002 [016.5000-018.0000]: Is there a problem?\n"
        "M: [overlap] okay\n"
    )
    (s1 / "transcriptions" / "Ses01M_impro07.txt").write_text(
        "Ses01M_impro07_M033 [204.8100-206.6000]: Oh my gosh, that's wonderful.\n"
        "Ses01M_impro07_F010 [210.0000-213.2500]: I know, right?\n"
    )
    (s2 / "transcriptions" / "Ses02F_impro01.txt").write_text(
        "Ses02F_impro01_F000 [005.0000-006.5000]: Hi.\n"
        "Ses02F_impro01_F001 [016.4840-019.7791]: What?\n"
        "Ses02F_impro01_M002 [020.0000-022.0000]: I lost it.\n"
        "Ses02F_impro01_F004 [025.0000-027.0000]: This again.\n"
    )
    (s3 / "transcriptions" / "Ses03M_script01_1b.txt").write_text(
        "Ses03M_script01_1b_M011 [001.0000-003.0000]: Well, here we are.\n"
        "Ses03M_script01_1b_F012 [003.5000-005.0000]: Finally!\n"
    )
    wav = {
        "Session1": ["Ses01F_impro01_F000", "Ses01F_impro01_M000", "Ses01F_impro01_M001", "Ses01F_impro01_F002",
                     "Ses01M_impro07_F010"],
        "Session2": ["Ses02F_impro01_F000", "Ses02F_impro01_F001", "Ses02F_impro01_M002", "Ses02F_impro01_M003",
                     "Ses02F_impro01_F004"],
        "Session3": ["Ses03M_script01_1b_M011"],
    }
    for session, uids in wav.items():
        for uid in uids:
            write_wav(base / session / "sentences" / "wav" / uid.rsplit("_", 1)[0] / f"{uid}.wav",
                      seconds=0.5 if uid == "Ses01F_impro01_F000" else 0.25)
    write_pointer(base / "Session1" / "sentences" / "wav" / "Ses01M_impro07" / "Ses01M_impro07_M033.wav")
    empty = base / "Session1" / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F001.wav"
    empty.write_bytes(b"")
    (base / "Session1" / "sentences" / "wav" / "Ses01F_impro01" / "._Ses01F_impro01_F000.wav").write_bytes(b"x")
    return base


#: Consensus-code counts of the full release (docs/corpora.md), for the synthetic full-size release.
IEMOCAP_CODE_COUNTS = {"xxx": 2507, "fru": 1849, "neu": 1708, "ang": 1103, "sad": 1084, "exc": 1041,
                       "hap": 595, "sur": 107, "fea": 40, "oth": 3, "dis": 2}
_CODE_WORD = {"xxx": "Neutral", "fru": "Frustration", "neu": "Neutral", "ang": "Anger", "sad": "Sadness",
              "exc": "Excited", "hap": "Happiness", "sur": "Surprise", "fea": "Fear", "oth": "Other",
              "dis": "Disgust"}


def write_iemocap_full_size(root: Path, seed: int = 0) -> Path:
    """A synthetic release with the real per-code counts (10,039 turns over 5 sessions, no audio).

    Every turn gets 3 external raters whose first two agree with the code (the third says Frustration),
    and one self-rating; ``xxx`` turns get three different words.
    """
    rng = np.random.default_rng(seed)
    codes = [c for c, n in IEMOCAP_CODE_COUNTS.items() for _ in range(n)]
    rng.shuffle(codes)
    base = root / "IEMOCAP_full_release"
    per_session = np.array_split(np.arange(len(codes)), 5)
    for s, idx in enumerate(per_session, start=1):
        ev = base / f"Session{s}" / "dialog" / "EmoEvaluation"
        ev.mkdir(parents=True)
        chunks = np.array_split(idx, 10)
        for d, chunk in enumerate(chunks):
            dialog = f"Ses{s:02d}F_impro{d + 1:02d}"
            lines = [IEMOCAP_HEADER]
            for j, i in enumerate(chunk):
                code = codes[i]
                uid = f"{dialog}_{'FM'[j % 2]}{j:03d}"
                lines.append(_turn(j * 3.0, j * 3.0 + 2.0, uid, code))
                if code == "xxx":
                    words = ["Neutral", "Sadness", "Anger"]
                else:
                    words = [_CODE_WORD[code], _CODE_WORD[code], "Frustration"]
                for r, w in enumerate(words, start=1):
                    lines.append(f"C-E{r}:{T}{w};{T}()\n")
                lines.append(f"C-{'FM'[j % 2]}1:{T}{words[0]};{T}()\n\n")
            (ev / f"{dialog}.txt").write_text("".join(lines))
    return base


# ---------------------------------------------------------------------------------------------- MSP-Podcast
#: (file, worker, primary, secondary list (None = absent), A, V, D) - the reference votes.
MSP_VOTES: list[tuple[str, str, str, list[str] | None, float, float, float]] = [
    ("MSP-PODCAST_0001_0008", "WORKER00000003", "Neutral", ["Neutral"], 2.0, 4.0, 3.0),
    ("MSP-PODCAST_0001_0008", "WORKER00000007", "Neutral", None, 2.0, 4.0, 2.0),
    ("MSP-PODCAST_0001_0008", "WORKER00000011", "Happy", ["Amused", "Happy"], 3.0, 5.0, 3.0),
    ("MSP-PODCAST_0001_0008", "WORKER00000012", "Neutral", ["Concerned"], 2.0, 3.0, 3.0),
    ("MSP-PODCAST_0001_0008", "WORKER00000015", "Sad", ["Dissapointed", "Sad"], 2.0, 2.0, 2.0),
    ("MSP-PODCAST_0001_0139", "WORKER00000001", "Other-confused", ["Concerned", "Confused"], 3.0, 3.0, 4.0),
    ("MSP-PODCAST_0001_0139", "WORKER00000018", "Neutral", ["Neutral"], 1.0, 4.0, 2.0),
    ("MSP-PODCAST_0001_0139", "WORKER00000044", "Surprise", ["Neutral", "Surprise"], 3.0, 5.0, 3.0),
    ("MSP-PODCAST_0001_0139", "WORKER00000050", "Surprise", ["Excited"], 4.0, 5.0, 3.0),
    ("MSP-PODCAST_0001_0139", "WORKER00000061", "Contempt", ["Annoyed", "Frustrated"], 3.0, 2.0, 4.0),
    ("MSP-PODCAST_0002_0033", "WORKER00000003", "Angry", ["Angry", "Annoyed"], 5.0, 1.0, 5.0),
    ("MSP-PODCAST_0002_0033", "WORKER00000009", "Angry", ["Frustrated"], 4.0, 2.0, 4.0),
    ("MSP-PODCAST_0002_0033", "WORKER00000010", "Disgust", ["Disgust", "Angry"], 4.0, 1.0, 4.0),
    ("MSP-PODCAST_0002_0033", "WORKER00000021", "Fear", ["Fear", "Concerned"], 4.0, 2.0, 2.0),
    ("MSP-PODCAST_0002_0033", "WORKER00000022", "Angry", None, 5.0, 2.0, 5.0),
    ("MSP-PODCAST_0002_0040", "WORKER00000030", "Other-bored", ["Other-tired"], 1.0, 3.0, 2.0),
    ("MSP-PODCAST_0002_0040", "WORKER00000031", "Other-sleepy", None, 1.0, 3.0, 1.0),
    ("MSP-PODCAST_0002_0040", "WORKER00000032", "Other-meh", ["Depressed"], 1.0, 2.0, 2.0),
    ("MSP-PODCAST_0002_0040", "WORKER00000033", "Other-flat", None, 2.0, 3.0, 2.0),
    ("MSP-PODCAST_0002_0040", "WORKER00000034", "Other-calm", ["Neutral"], 1.0, 4.0, 3.0),
]
#: A repeated worker row (must be kept once, warned).
MSP_DUPLICATE = ("MSP-PODCAST_0001_0008", "WORKER00000007", "Happy", None, 4.0, 5.0, 3.0)
MSP_CONSENSUS = [
    ("MSP-PODCAST_0001_0008.wav", "N", "2.2", "4.0", "2.6", "30", "Male", "Test1"),
    ("MSP-PODCAST_0001_0139.wav", "X", "2.8", "3.8", "3.2", "31", "Female", "Train"),
    ("MSP-PODCAST_0002_0033.wav", "A", "4.4", "1.6", "4.0", "Unknown", "Female", "Validation"),
    ("MSP-PODCAST_0002_0040.wav", "O", "1.2", "3.0", "2.0", "45", "Male", "Test2"),
]


def _detail(v: tuple) -> str:
    _, w, p, sec, a, val, d = v
    parts = [w, p] + ([",".join(sec)] if sec is not None else []) + [f"A:{a:.6f}", f"V:{val:.6f}", f"D:{d:.6f}"]
    return "; ".join(parts) + ";"


def write_msp_podcast(root: Path, fmt: str = "v1.7", *, consensus_spelling: str = "consensus",
                      raw: bool = True, extras: bool = True) -> Path:
    """An MSP-Podcast release with the reference votes in ``labels_detailed.csv`` of format ``fmt``.

    ``fmt``: ``v1.6``, ``v1.7`` (EmoDetail), ``v2.0``, or ``none`` (no detailed file; labels.txt only).
    The detailed file also holds a duplicate worker row and one unparsable row (v1.7 only).
    Audio: 0001_0008 wav, 0001_0139 LFS pointer, 0002_0033 wav, 0002_0040 missing.
    Transcripts: all but 0002_0040.
    """
    base = root
    labels = base / "Labels"
    labels.mkdir(parents=True, exist_ok=True)
    with open(labels / f"labels_{consensus_spelling}.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set"])
        w.writerows(MSP_CONSENSUS)
    rows = [*MSP_VOTES[:2], MSP_DUPLICATE, *MSP_VOTES[2:]]
    if fmt == "v1.7":
        with open(labels / "labels_detailed.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["FileName", "EmoDetail"])
            for v in rows:
                w.writerow([f"{v[0]}.wav", _detail(v)])
            w.writerow(["MSP-PODCAST_0002_0033.wav", "WORKER00000099"])  # unparsable: no primary
    elif fmt in ("v1.6", "v2.0"):
        wcol = "Workers" if fmt == "v1.6" else "WorkerID"
        with open(labels / "labels_detailed.csv", "w", newline="") as fh:
            fh.write(f"FileName, {wcol}, EmoClass_Major, EmoClass_Second, EmoAct, EmoVal, EmoDom\n")
            w = csv.writer(fh)
            for f, wk, p, sec, a, val, d in rows:
                w.writerow([f"{f}.wav", wk, p, ",".join(sec) if sec else "", a, val, d])
    elif fmt != "none":
        raise ValueError(fmt)
    if raw:
        lines = []
        for row in MSP_CONSENSUS:
            fid = row[0][:-4]
            lines.append(f"{row[0]}; {row[1]}; A:{float(row[2]):.6f}; V:{float(row[3]):.6f}; D:{float(row[4]):.6f};")
            for v in [r for r in rows if r[0] == fid]:
                lines.append(_detail(v))
            lines.append("")
        (labels / "labels.txt").write_text("\n".join(lines) + "\n")
    tr = base / "Transcripts"
    tr.mkdir(exist_ok=True)
    (tr / "MSP-PODCAST_0001_0008.txt").write_text("and that was the end of it\n")
    (tr / "MSP-PODCAST_0001_0139.txt").write_text("wait what did you just say\n")
    (tr / "MSP-PODCAST_0002_0033.txt").write_text("I am so done with this\n")
    write_wav(base / "Audios" / "MSP-PODCAST_0001_0008.wav", 0.5)
    write_pointer(base / "Audios" / "MSP-PODCAST_0001_0139.wav")
    write_wav(base / "Audios" / "MSP-PODCAST_0002_0033.wav", 0.25)
    if extras:
        (base / "Partitions.txt").write_text(
            "Test1; MSP-PODCAST_0001_0008.wav\nTrain; MSP-PODCAST_0001_0139.wav\n"
            "Development; MSP-PODCAST_0002_0033.wav\nTest2; MSP-PODCAST_0002_0040.wav\n")
        (base / "Speaker_ids.txt").write_text(
            "Speaker_0030; Male\nSpeaker_0031; Female\nSpeaker_0045; Male\n"
            "MSP-PODCAST_0001_0008.wav; 0030\nMSP-PODCAST_0001_0139.wav; 0031\n")
    return base


# ---------------------------------------------------------------------------------------------- manifests
#: Reference manifest content: id -> (audio, transcript, speaker, {rater: labels}, extra metadata).
MANIFEST_ITEMS = {
    "u1": ("wav/u1.wav", "hello there", "spkA", {"r1": ["neutral"], "r2": ["neutral"], "r3": ["happy"]}, 1),
    "u2": ("wav/u2.wav", "oh no", "spkA", {"r1": ["sad"], "r2": ["sad", "angry"], "r3": ["sad"]}, 2),
    "u3": ("wav/u3.wav", None, "spkB", {"r1": ["angry"], "r4": ["angry"]}, 3),
    "u4": ("wav/missing.wav", "what", "spkB", {"r2": ["excited"], "r5": ["happy"]}, 4),
    "u5": ("wav/u5.wav", "meh", "spkC", {"r1": ["frustrated"], "r2": ["frustrated"]}, 5),
}


def write_manifest_audio(root: Path) -> None:
    for uid in ("u1", "u2", "u5"):
        write_wav(root / "wav" / f"{uid}.wav", 0.25)
    write_pointer(root / "wav" / "u3.wav")


def manifest_rater_rows() -> list[dict]:
    rows = []
    for uid, (audio, text, spk, votes, extra) in MANIFEST_ITEMS.items():
        for rater, labels in votes.items():
            rows.append({"id": uid, "audio": audio, "transcript": text, "speaker": spk, "rater": rater,
                         "label": ";".join(labels), "rater_kind": "external", "session_no": extra})
    return rows


def manifest_count_rows() -> list[dict]:
    classes = ["neutral", "happy", "sad", "angry", "excited", "frustrated"]
    rows = []
    for uid, (audio, text, spk, votes, extra) in MANIFEST_ITEMS.items():
        row = {"id": uid, "audio": audio, "transcript": text, "speaker": spk, "session_no": extra}
        for c in classes:
            row[f"votes:{c}"] = sum(c in labels for labels in votes.values())
        rows.append(row)
    return rows


def write_manifest(root: Path, form: str, fmt: str) -> Path:
    """Write ``manifest.<fmt>`` (csv, jsonl, parquet) in ``form`` (rater, counts, nested, nested-counts)."""
    import pandas as pd

    root.mkdir(parents=True, exist_ok=True)
    write_manifest_audio(root)
    path = root / f"manifest.{fmt}"
    if form in ("nested", "nested-counts"):
        assert fmt == "jsonl"
        with open(path, "w") as fh:
            for uid, (audio, text, spk, votes, extra) in MANIFEST_ITEMS.items():
                if form == "nested":
                    vv: object = [{"rater": r, "labels": ls} if len(ls) > 1 else {"rater": r, "label": ls[0]}
                                  for r, ls in votes.items()]
                else:
                    counts: dict[str, int] = {}
                    for ls in votes.values():
                        for lab in ls:
                            counts[lab] = counts.get(lab, 0) + 1
                    vv = counts
                fh.write(json.dumps({"id": uid, "audio": audio, "transcript": text, "speaker": spk,
                                     "session_no": extra, "votes": vv}) + "\n")
        return path
    rows = manifest_rater_rows() if form == "rater" else manifest_count_rows()
    df = pd.DataFrame(rows)
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "jsonl":
        with open(path, "w") as fh:
            for r in rows:
                fh.write(json.dumps(r) + "\n")
    elif fmt == "parquet":
        df.to_parquet(path, index=False)
    else:
        raise ValueError(fmt)
    return path


# ---------------------------------------------------------------------------------------------- CREMA-D
def make_crema_tabulated_votes(path: Path) -> Path:
    """The slice's ``tabulatedVotes.csv``: its two parts (same header) joined into one file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [(CREMA_D_DATA / name).read_text().splitlines() for name in CREMA_D_VOTE_PARTS]
    assert all(p[0] == parts[0][0] for p in parts), "the parts of the CREMA-D slice must share one header"
    path.write_text("\n".join(parts[0] + [line for p in parts[1:] for line in p[1:]]) + "\n")
    return path


def make_crema_clone(root: Path) -> Path:
    """A clone-like CREMA-D folder from the repository's slice of the real tables (49 clips):
    processedResults/tabulatedVotes.csv, SentenceFilenames.csv, VideoDemographics.csv, AudioWAV/ with the
    real wav and the LFS pointer."""
    root.mkdir(parents=True, exist_ok=True)
    make_crema_tabulated_votes(root / "processedResults" / "tabulatedVotes.csv")
    for name in ("SentenceFilenames.csv", "VideoDemographics.csv"):
        shutil.copy(CREMA_D_DATA / name, root / name)
    audio = root / "AudioWAV"
    audio.mkdir(exist_ok=True)
    shutil.copy(ASSETS / "1001_DFA_ANG_XX.wav", audio / "1001_DFA_ANG_XX.wav")
    shutil.copy(ASSETS / "1001_DFA_DIS_XX.lfs-pointer.wav", audio / "1001_DFA_DIS_XX.wav")
    return root
