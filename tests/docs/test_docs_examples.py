"""Every ```python block of README.md and docs/*.md runs, so a documented promise that breaks fails CI.

Convention (an HTML comment on the line before the block; invisible on GitHub):

- ``<!-- docs-test: skip (why) -->``: not run, because it needs what CI does not have (a real corpus, hub
  weights, a GPU); the reason is required and reported.
- ``<!-- docs-test: setup=NAME -->``: run after the setup snippet ``NAME`` of :data:`SETUPS`, which defines
  the names the block takes as given (small random arrays, a tiny run, audio files) in the block's
  namespace and working folder, or shrinks the paper's sizes underneath it (``small_protocol``).
- no marker: the block runs as written.

The blocks of one file run in order in one namespace and one temporary working folder (like a reader
pasting them into one session), so a later block may use what an earlier one made (``model``, ``preds``).
Blocks run on small data: tiny sizes come from the setups, never from editing the examples.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_BLOCK = re.compile(r"(?:<!--\s*docs-test:\s*(?P<marker>[^>]*?)\s*-->\s*\n)?```python\n(?P<code>.*?)```", re.S)

_ARRAYS = """
import numpy as np
_rng = np.random.default_rng(0)
_n = 48
Y = _rng.dirichlet(np.ones(4) * 0.7, size=_n)
A = (_rng.normal(size=(_n, {da})) + 2 * Y @ _rng.normal(size=(4, {da}))).astype(np.float32)
T = (_rng.normal(size=(_n, {dt})) + 2 * Y @ _rng.normal(size=(4, {dt}))).astype(np.float32)
A2, T2 = A[:6], T[:6]
ids = [f"u{{i:03d}}" for i in range(_n)]
folds = np.arange(_n) % 3
"""

_CLIPS = """
import numpy as np
import soundfile as _sf
for _name in {names}:
    _t = np.arange(16000) / 16000
    _sf.write(_name, (0.3 * np.sin(2 * np.pi * 180 * _t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * _t))).astype("float32"),
              16000)
"""

_TINY_RUN = """
import numpy as np
from amber2.training.config import load_config
from amber2.training.data import LabeledSet
from amber2.workflow.run import write_run
from amber2.training.protocol import run_protocol
_rng = np.random.default_rng(0)
_Y = _rng.dirichlet(np.ones(3), size=60)
_X = {"audio": _rng.normal(size=(60, 6)) + 2 * _Y @ _rng.normal(size=(3, 6)),
      "text": _rng.normal(size=(60, 5)) + 2 * _Y @ _rng.normal(size=(3, 5))}
_data = LabeledSet([f"u{i}" for i in range(60)], _X, _Y, ["a", "b", "c"])
_folds = np.arange(60) % 3
_cfg = load_config(None, ["model.hidden=8", "model.fusion_dim=4", "optim.max_epochs=3", "protocol.seeds=[0,1]",
                          "protocol.grid={lambda_mai: [0.5], kappa: [4.0]}"])
write_run(run_protocol(_data, _folds, _cfg), "runs/iemocap", config=_cfg, data=_data, folds=_folds)
"""

#: Setup snippets by name (see the module docstring); each runs in the block's namespace and folder.
SETUPS: dict[str, str] = {
    # small arrays whose widths fit the offline encoders (eGeMAPS 88, MiniLM 384), so bundles saved with
    # build_encoders("offline") accept the models fitted on them
    "arrays": _ARRAYS.format(da=88, dt=384),
    "fit": _ARRAYS.format(da=88, dt=384) + """
import amber2
from amber2.encoders import build_encoders
from amber2.training.config import LossConfig, load_config
from amber2.training.fit import fit_model
fit = fit_model(amber2.LabeledSet(ids, {"audio": A, "text": T}, Y, ["neutral", "happy", "angry", "sad"]),
                optim=load_config(None, ["optim.max_epochs=2"]).optim)
policy = amber2.get_policy("iemocap-4class")
config = load_config(None)
loss_config = LossConfig()
""",
    "clips": _CLIPS.format(names=["a.wav", "b.flac"]),
    "new_wav": _CLIPS.format(names=["new.wav"]),
    "metrics": """
import numpy as np
_rng = np.random.default_rng(0)
Y_true, Y_pred = _rng.dirichlet(np.ones(4), size=30), _rng.dirichlet(np.ones(4), size=30)
P_runs = _rng.dirichlet(np.ones(4), size=(3, 30))
""",
    "losses": """
import numpy as np
import torch
from amber2.model.heads import AmbER2Model, ModelConfig
model = AmbER2Model(ModelConfig(dims={"audio": 6, "text": 5}, n_classes=4, hidden=8, fusion_dim=4))
X = {"audio": torch.randn(8, 6), "text": torch.randn(8, 5)}
y = torch.distributions.Dirichlet(torch.ones(4)).sample((8,))
Y_train = np.random.default_rng(0).dirichlet(np.ones(4), size=20)
""",
    "tiny_run": _TINY_RUN,
    # the README's protocol example on the small arrays, with the paper's sizes shrunk underneath it: the
    # block's own overrides still apply on top (``_monkeypatch`` is pytest's, so amber2 is restored after)
    "small_protocol": _ARRAYS.format(da=88, dt=384) + """
import amber2
import amber2.training.config as _config
_TINY = ["optim.max_epochs=2", "model.hidden=8", "model.fusion_dim=8", "protocol.seeds=[0]",
         "protocol.grid={lambda_mai: [0.5], kappa: [4.0]}"]
_load = _config.load_config
def _small_config(path=None, overrides=()):
    return _load(path, [*_TINY, *overrides])
_run = amber2.run_protocol
def _small_protocol(data, folds, config=None, **kw):
    return _run(data, folds, config if config is not None else _small_config(), **kw)
_monkeypatch.setattr(amber2, "load_config", _small_config)
_monkeypatch.setattr(amber2, "run_protocol", _small_protocol)
""",
}


@dataclass
class Block:
    doc: str
    line: int
    code: str
    marker: str


def _blocks() -> list[Block]:
    out = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for m in _BLOCK.finditer(text):
            line = text[: m.start("code")].count("\n")
            marker = (m.group("marker") or "").strip()
            out.append(Block(path.relative_to(ROOT).as_posix(), line, m.group("code"), marker))
    return out


BLOCKS = _blocks()
_BY_DOC: dict[str, list[Block]] = {}
for _b in BLOCKS:
    _BY_DOC.setdefault(_b.doc, []).append(_b)


def test_every_marker_is_known_and_every_skip_has_a_reason():
    assert BLOCKS, "no ```python blocks found"
    for b in BLOCKS:
        if b.marker.startswith("skip"):
            assert re.fullmatch(r"skip \(.+\)", b.marker), f"{b.doc}:{b.line}: a skip needs a reason: {b.marker!r}"
        elif b.marker:
            name = b.marker.removeprefix("setup=")
            assert b.marker.startswith("setup=") and name in SETUPS, f"{b.doc}:{b.line}: unknown marker {b.marker!r}"


@pytest.mark.parametrize("doc", sorted(_BY_DOC))
def test_docs_python_examples_run(doc, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_example_{Path(doc).stem}", "_monkeypatch": monkeypatch}
    ran = 0
    for b in _BY_DOC[doc]:
        if b.marker.startswith("skip"):
            continue
        if b.marker.startswith("setup="):
            exec(compile(SETUPS[b.marker.removeprefix("setup=")], f"<setup {b.marker}>", "exec"), namespace)
        try:
            exec(compile(b.code, f"{doc}:{b.line}", "exec"), namespace)
        except Exception as exc:  # name the block, so the failure points at the doc to fix
            raise AssertionError(f"{doc}, the python block at line {b.line} fails: {type(exc).__name__}: "
                                 f"{exc}") from exc
        ran += 1
    if not ran:
        pytest.skip(f"{doc}: every python block is marked skip")
    assert os.getcwd() == str(tmp_path)
