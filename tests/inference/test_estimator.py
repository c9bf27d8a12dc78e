from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from amber2.inference import AmbER2Estimator, js_scorer, load
from amber2.metrics import js_distance

FAST = dict(hidden=16, fusion_dim=8, max_epochs=12, batch_size=32, lr=5e-3)


def _data(n: int = 160, seed: int = 0):
    """Two modalities that both carry the class (audio more clearly), soft labels around the class."""
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 3, n)
    A = rng.normal(size=(n, 6)).astype(np.float32)
    T = rng.normal(size=(n, 5)).astype(np.float32)
    A[np.arange(n), c] += 4.0
    T[np.arange(n), c] += 1.5
    Y = np.full((n, 3), 0.1)
    Y[np.arange(n), c] = 0.8
    return {"audio": A, "text": T}, Y, c


def test_fit_predict_on_soft_labels():
    X, Y, c = _data()
    est = AmbER2Estimator(**FAST, classes=["neu", "hap", "ang"])
    assert est.fit(X, Y) is est
    P = est.predict_proba(X)
    assert P.shape == (160, 3) and np.allclose(P.sum(axis=1), 1.0)
    assert list(est.classes_) == ["neu", "hap", "ang"] and est.heads_ == ["audio", "text", "fusion"]
    assert est.modalities_ == {"audio": 6, "text": 5} and est.n_features_in_ == 11
    pred = est.predict(X)
    assert np.mean(pred == np.asarray(est.classes_)[c]) > 0.9
    assert est.score(X, Y) == pytest.approx(-js_distance(Y, P))
    heads = est.predict_head_proba(X)
    assert set(heads) == {"audio", "text", "fusion"}
    np.testing.assert_allclose(heads["fusion"], P)
    np.testing.assert_allclose(AmbER2Estimator(**FAST, head="audio").fit(X, Y).predict_proba(X),
                               est.predict_head_proba(X)["audio"], atol=1e-6)


def test_estimator_is_a_faithful_wrapper_of_fit_model():
    from amber2.training.config import LossConfig, ModelSettings, OptimConfig, ValidationConfig
    from amber2.training.data import LabeledSet
    from amber2.training.fit import fit_model

    X, Y, _ = _data(80, seed=3)
    est = AmbER2Estimator(**FAST, random_state=5).fit(X, Y)
    res = fit_model(LabeledSet([str(i) for i in range(80)], X, Y), model=ModelSettings(hidden=16, fusion_dim=8),
                    optim=OptimConfig(max_epochs=FAST["max_epochs"], batch_size=32, lr=FAST["lr"]), loss=LossConfig(),
                    validation=ValidationConfig(seed=5), seed=5)
    import torch

    with torch.no_grad():
        ref = torch.softmax(res.model({m: torch.from_numpy(a) for m, a in X.items()})["fusion"].double(), -1)
    np.testing.assert_allclose(est.predict_proba(X), ref.numpy(), atol=1e-7)


def test_hard_labels_are_one_hot_encoded():
    X, _, c = _data(120, seed=1)
    names = np.array(["angry", "happy", "sad"])[c]
    est = AmbER2Estimator(**FAST).fit(X, names)
    assert list(est.classes_) == ["angry", "happy", "sad"] and est.hard_labels_
    assert est.score(X, names) > 0.9  # accuracy for hard labels
    assert set(est.predict(X)) <= {"angry", "happy", "sad"}


def test_clone_params_and_errors():
    est = AmbER2Estimator(kappa=8.0, lambda_mai=0.3, max_epochs=3)
    cl = clone(est)
    assert cl.get_params() == est.get_params() and cl is not est and not hasattr(cl, "model_")
    with pytest.raises(NotFittedError):
        est.predict_proba({"audio": np.zeros((1, 6)), "text": np.zeros((1, 5))})
    X, Y, _ = _data(60)
    est.fit(X, Y)
    with pytest.raises(ValueError, match="lacks modality 'text'"):
        est.predict_proba({"audio": X["audio"]})
    with pytest.raises(ValueError, match="has 4 columns; fit saw 5"):
        est.predict_proba({"audio": X["audio"], "text": X["text"][:, :4]})
    with pytest.raises(ValueError, match="pass modalities="):
        AmbER2Estimator(modalities=["audio", "text"]).fit(np.hstack([X["audio"], X["text"]]), Y)
    one = AmbER2Estimator(max_epochs=1, hidden=8).fit(np.hstack([X["audio"], X["text"]]), Y)  # one modality
    assert one.modalities_ == {"features": 11} and one.heads_ == ["features"]
    with pytest.raises(ValueError, match="X has 10 features, but AmbER2Estimator is expecting 11"):
        one.predict(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="NaN"):
        AmbER2Estimator().fit({"audio": np.full((60, 6), np.nan), "text": X["text"]}, Y)
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        AmbER2Estimator().fit(X, np.linspace(0, 1, 60))
    with pytest.raises(ValueError, match="rows but y has"):
        AmbER2Estimator(max_epochs=1).fit(X, Y[:10])


@pytest.mark.slow  # ~3 s: cross-validation and a grid search
def test_array_form_works_in_cross_validation_and_grid_search():
    X, Y, _ = _data(120, seed=2)
    Xa = np.hstack([X["audio"], X["text"]])
    est = AmbER2Estimator(**FAST, modalities={"audio": 6, "text": 5})
    scores = cross_val_score(est, Xa, Y, cv=KFold(3, shuffle=True, random_state=0), scoring=js_scorer())
    assert scores.shape == (3,) and np.all(scores < 0) and np.all(scores > -np.sqrt(np.log(2)))
    assert np.mean(scores) > -0.35  # well below the JS distance of a uniform guess (~0.45 here)
    default = cross_val_score(est, Xa, Y, cv=3)  # est.score: -JS for soft labels
    assert np.all(default < 0)
    grid = GridSearchCV(est, {"kappa": [2.0, 8.0]}, cv=2, scoring=js_scorer()).fit(Xa, Y)
    assert grid.best_params_["kappa"] in (2.0, 8.0)
    P = grid.predict_proba(Xa)
    assert P.shape == (120, 3)
    same = est.fit(Xa, Y).predict_proba(Xa)
    dict_form = clone(est).set_params(modalities=None).fit(X, Y).predict_proba(X)
    np.testing.assert_allclose(same, dict_form, atol=1e-7)


def test_fitted_estimator_becomes_a_bundle(tmp_path: Path):
    from inference_helpers import ToyAudioEncoder, ToyTextEncoder

    rng = np.random.default_rng(0)
    X = {"audio": rng.normal(size=(60, 8)).astype(np.float32), "text": rng.normal(size=(60, 6)).astype(np.float32)}
    Y = rng.dirichlet(np.ones(3), size=60)
    est = AmbER2Estimator(max_epochs=2, hidden=8, fusion_dim=4).fit(X, Y)
    net = est.to_amber2({"audio": ToyAudioEncoder(), "text": ToyTextEncoder()})
    np.testing.assert_allclose(net.predict_proba(X), est.predict_proba(X), atol=1e-12)
    path = est.save(tmp_path / "b", encoders={"audio": {"kind": "toy"}, "text": {"kind": "toy"}})
    back = load(path)
    assert back.training_config["estimator"]["max_epochs"] == 2
    np.testing.assert_allclose(back.predict_proba(X), est.predict_proba(X), atol=1e-6)
