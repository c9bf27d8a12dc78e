from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from inference_helpers import reseal

from amber2.inference import AmbER2, BundleError, load, read_bundle_info, save_bundle
from amber2.model.heads import AmbER2Model, ModelConfig


def _small_model(dims=None, n_classes=4, seed=0):
    return AmbER2Model(ModelConfig(dims=dims or {"audio": 88, "text": 384}, n_classes=n_classes, hidden=8,
                                   fusion_dim=4), seed=seed)


def _copy(bundle: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(bundle, dst)
    return dst


def _edit_meta(path: Path, **changes) -> None:
    meta = json.loads((path / "model.json").read_text())
    for k, v in changes.items():
        if k == "bundle_format":
            meta["metadata"]["bundle_format"] = v
        else:
            meta[k] = v
    (path / "model.json").write_text(json.dumps(meta))
    reseal(path)


def test_bundle_holds_safetensors_and_json_only(bundle: Path):
    assert sorted(p.name for p in bundle.iterdir()) == ["checksums.json", "model.json", "model.safetensors"]
    meta = json.loads((bundle / "model.json").read_text())
    md = meta["metadata"]
    assert meta["classes"] == ["neutral", "happy", "angry", "sad"]
    assert md["encoders"]["audio"]["kind"] == "opensmile" and md["encoders"]["audio"]["feature_set"] == "eGeMAPSv02"
    assert md["encoders"]["text"]["kind"] == "hf-text" and "weights" in md["encoders"]["text"]
    assert md["metrics"] == {"js": 0.25} and md["objective"] == "amber2(test)" and md["bundle_format"] == 1
    assert b"pickle" not in (bundle / "model.safetensors").read_bytes()[:2000]


def test_round_trip_gives_the_same_distributions(tmp_path: Path, encoders):
    from amber2.labels import get_policy
    from amber2.training.config import TrainConfig

    model = _small_model(seed=7)
    policy = get_policy("iemocap-4class")
    path = save_bundle(tmp_path / "b", model, classes=list(policy.classes), encoders=encoders, label_policy=policy,
                       training_config=TrainConfig(), metrics={"val": {"js": 0.3}}, objective="amber2(lm=0.5,k=4)")
    net = load(path, device="cpu")
    assert isinstance(net, AmbER2) and net.classes == list(policy.classes)
    assert net.label_policy == policy.to_dict()
    assert net.training_config["optim"]["lr"] == 3e-4
    assert net.metrics == {"val": {"js": 0.3}} and net.objective == "amber2(lm=0.5,k=4)"
    for k, v in model.state_dict().items():
        assert torch.equal(v, net.model.state_dict()[k]), k
    rng = np.random.default_rng(0)
    X = {"audio": rng.normal(size=(5, 88)).astype(np.float32), "text": rng.normal(size=(5, 384)).astype(np.float32)}
    got = net.predict_embeddings(X)
    with torch.no_grad():
        ref = model({m: torch.from_numpy(a) for m, a in X.items()})
    assert set(got) == {"audio", "text", "fusion"}
    for h in got:
        np.testing.assert_allclose(got[h], torch.softmax(ref[h].double(), -1).numpy(), atol=1e-6)
        np.testing.assert_allclose(got[h].sum(axis=1), 1.0, atol=1e-12)
    # save_pretrained writes an equivalent bundle
    again = load(net.save_pretrained(tmp_path / "again"))
    assert again.classes == net.classes and again.encoder_specs == net.encoder_specs
    assert again.label_policy == net.label_policy and again.objective == net.objective
    np.testing.assert_allclose(again.predict_embeddings(X)["fusion"], got["fusion"], atol=0)


def test_from_pretrained_builds_the_encoders_from_the_spec(bundle: Path, encoders):
    net = AmbER2.from_pretrained(bundle, device="cpu")
    enc = net.encoder("audio")  # openSMILE: cheap to build
    assert enc.spec == encoders["audio"].spec and enc.dim == 88


def test_missing_files_and_paths(tmp_path: Path, bundle: Path):
    with pytest.raises(BundleError, match="does not exist"):
        load(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(BundleError, match="is a file"):
        load(tmp_path / "file")
    b = _copy(bundle, tmp_path)
    (b / "model.safetensors").unlink()
    with pytest.raises(BundleError, match=r"incomplete: missing model\.safetensors"):
        load(b)


def test_corrupt_weights_and_json(tmp_path: Path, bundle: Path):
    b = _copy(bundle, tmp_path)
    data = (b / "model.safetensors").read_bytes()
    (b / "model.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(BundleError, match="model.safetensors is corrupt"):
        load(b)
    (b / "checksums.json").unlink()  # a bundle saved before checksums: the parser still names the file
    with pytest.raises(BundleError, match="model.safetensors"):
        load(b)
    (b / "model.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        read_bundle_info(b)


def test_weights_that_do_not_fit_the_config(tmp_path: Path, bundle: Path):
    b = _copy(bundle, tmp_path)
    meta = json.loads((b / "model.json").read_text())
    meta["model"]["hidden"] = 99
    (b / "model.json").write_text(json.dumps(meta))
    reseal(b)
    with pytest.raises(BundleError, match="do not fit"):
        load(b)


def test_newer_format_is_refused(tmp_path: Path, bundle: Path):
    b = _copy(bundle, tmp_path)
    _edit_meta(b, format_version=99)
    with pytest.raises(BundleError, match="checkpoint format 99.*upgrade amber2"):
        load(b)
    b2 = _copy(bundle, tmp_path / "x")
    _edit_meta(b2, bundle_format=5)
    with pytest.raises(BundleError, match="bundle format 5.*upgrade amber2"):
        load(b2)


def _versions() -> tuple[str, str, list[str]]:
    """(running version, a compatible other version, incompatible versions) under this amber2's version."""
    from amber2 import __version__

    major, minor = (int(x) for x in __version__.split(".")[:2])
    if major == 0:  # 0.x: same major.minor only
        older = [f"0.{minor - 1}.9"] if minor else []
        return __version__, f"0.{minor}.99", [f"0.{minor + 1}.0", f"1.{minor}.0", *older]
    return __version__, f"{major}.{minor + 3}.1", [f"{major + 1}.0.0", f"{major - 1}.{minor}.0"]


@pytest.mark.parametrize(("saved", "running", "ok"), [
    ("0.1.0", "0.1.0", True), ("0.1.0", "0.1.7", True), ("0.1.9", "0.1.0", True), ("0.1.0rc1", "0.1.2", True),
    ("0.1.0-dev", "0.1.0", True), ("0.1.0", "0.2.0", False), ("0.2.3", "0.1.0", False), ("0.1.0", "1.1.0", False),
    ("1.0.0", "1.4.2", True), ("1.9.9", "1.0.0", True), ("2.0.0", "1.9.0", False), ("1.2.0", "2.2.0", False),
    ("unknown", "0.1.0", False), ("1", "1.0.0", False), ("", "0.1.0", False),
])
def test_versions_compatible_follows_semver(saved, running, ok):
    from amber2.inference import versions_compatible

    assert versions_compatible(saved, running) is ok


def test_incompatible_version_is_refused_unless_allowed(tmp_path: Path, bundle: Path, caplog):
    ours, _, others = _versions()
    for i, theirs in enumerate(others):
        b = _copy(bundle, tmp_path / str(i))
        _edit_meta(b, amber2_version=theirs)
        with pytest.raises(BundleError) as info:
            load(b)
        msg = str(info.value)
        assert str(b) in msg and f"saved by amber2 {theirs}" in msg and f"this is amber2 {ours}" in msg
        assert "re-export" in msg and "allow_version_mismatch=True" in msg and "--allow-version-mismatch" in msg
        with pytest.raises(BundleError, match="allow_version_mismatch"):
            read_bundle_info(b)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="amber2"):
            net = load(b, allow_version_mismatch=True)
        assert net.amber2_version == theirs and net.classes == ["neutral", "happy", "angry", "sad"]
        assert any("loading it anyway" in r.getMessage() and theirs in r.getMessage() for r in caplog.records)
        assert AmbER2.from_pretrained(b, device="cpu", allow_version_mismatch=True).amber2_version == theirs


def test_unparsable_version_is_refused_unless_allowed(tmp_path: Path, bundle: Path):
    b = _copy(bundle, tmp_path)
    _edit_meta(b, amber2_version="banana")
    with pytest.raises(BundleError, match="unknown amber2 .*'banana'"):
        load(b)
    assert load(b, allow_version_mismatch=True).amber2_version == "banana"


def test_compatible_other_version_loads_with_a_warning(tmp_path: Path, bundle: Path, caplog):
    _, compatible, _ = _versions()
    b = _copy(bundle, tmp_path)
    _edit_meta(b, amber2_version=compatible)
    with caplog.at_level(logging.WARNING, logger="amber2"):
        net = load(b)
    assert net.amber2_version == compatible
    assert any(f"saved by amber2 {compatible}" in r.getMessage() and "compatible" in r.getMessage()
               for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="amber2"):
        load(bundle)  # the same version: no warning
    assert not [r for r in caplog.records if "saved by amber2" in r.getMessage()]


def test_save_bundle_checks_its_arguments(tmp_path: Path, encoders):
    model = _small_model()
    with pytest.raises(ValueError, match="3 class names for a model with 4 outputs"):
        save_bundle(tmp_path / "a", model, classes=["a", "b", "c"], encoders=encoders)
    with pytest.raises(ValueError, match="duplicate class names"):
        save_bundle(tmp_path / "a", model, classes=["a", "b", "a", "c"], encoders=encoders)
    wrong = _small_model(dims={"audio": 10, "text": 384})
    with pytest.raises(ValueError, match="gives 88-d vectors but the model's 'audio' head takes 10-d"):
        save_bundle(tmp_path / "a", wrong, classes=list("abcd"), encoders=encoders)
    with pytest.raises(ValueError, match="modality 'video'"):
        save_bundle(tmp_path / "a", model, classes=list("abcd"), encoders={"video": {"kind": "precomputed"}})
    with pytest.raises(TypeError, match="metrics must be a dict"):
        save_bundle(tmp_path / "a", model, classes=list("abcd"), encoders=encoders, metrics=[1, 2])
    assert not (tmp_path / "a" / "model.json").exists()


def test_encoder_override_must_fit(bundle: Path):
    from inference_helpers import ToyAudioEncoder

    with pytest.raises(ValueError, match="gives 8-d vectors but the model's 'audio' head takes 88-d"):
        AmbER2.from_pretrained(bundle, device="cpu", encoders={"audio": ToyAudioEncoder()})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_load_on_gpu(bundle: Path):  # pragma: no cover - needs a GPU
    net = load(bundle, device="cuda")
    rng = np.random.default_rng(0)
    X = {"audio": rng.normal(size=(3, 88)), "text": rng.normal(size=(3, 384))}
    ref = load(bundle, device="cpu").predict_embeddings(X)
    got = net.predict_embeddings(X)
    for h in ref:
        np.testing.assert_allclose(got[h], ref[h], atol=1e-5)


def test_objective_as_loss_config_or_dict(tmp_path: Path, encoders):
    from amber2.training.config import LossConfig

    model = _small_model()
    cfg = LossConfig(lambda_mai=0.3, kappa=8.0)
    a = load(save_bundle(tmp_path / "a", model, classes=list("abcd"), encoders=encoders, objective=cfg))
    b = load(save_bundle(tmp_path / "b", model, classes=list("abcd"), encoders=encoders,
                         objective=cfg.model_dump(mode="json")))
    assert a.objective == b.objective == "amber2(lm=0.3,k=8)"
    assert a.objective_config == b.objective_config == cfg.model_dump(mode="json")
    assert a.describe()["objective"] == "amber2(lm=0.3,k=8)"
    c = load(a.save_pretrained(tmp_path / "c"))
    assert c.objective == a.objective and c.objective_config == a.objective_config
    d = load(save_bundle(tmp_path / "d", model, classes=list("abcd"), encoders=encoders, objective={"kind": "cbce"}))
    assert d.objective == "cbce"
