"""The AmbER² options beyond the paper (issue 15 point 5): class-balanced terms and a null expert."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from amber2.losses import AmbER2Options, amber2_loss, class_balanced_weights


def _js(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    m = 0.5 * (p + q)

    def kl(a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(a > 0, a * np.log(a / b), 0.0).sum(-1)

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


@pytest.fixture()
def batch():
    rng = np.random.default_rng(3)
    y = rng.dirichlet(np.ones(3), size=6)
    y[0] = [1.0, 0.0, 0.0]
    probs = {h: rng.dirichlet(np.ones(3), size=6) for h in ("audio", "text", "fusion")}
    return y, probs


def _t(d):
    return {k: torch.tensor(v, dtype=torch.float64) for k, v in d.items()}


def test_defaults_are_the_papers_method(batch):
    y, probs = batch
    opts = AmbER2Options()
    assert not opts.class_balanced and not opts.null_expert
    a = amber2_loss(_t(probs), torch.tensor(y), student="fusion", options=opts)
    # the extra tensors are ignored while their options are off
    b = amber2_loss(_t(probs), torch.tensor(y), student="fusion", options=opts,
                    class_weights=torch.tensor([5.0, 0.1, 1.0]), prior=torch.tensor([0.2, 0.3, 0.5]))
    assert torch.equal(a.total, b.total)


def test_class_balanced_is_the_expected_weight_under_y(batch):
    y, probs = batch
    w = class_balanced_weights(np.vstack([y, [[0, 0, 1.0]] * 5]))
    omega = y @ w  # omega_i = sum_k w_k y_ik
    u = np.exp(-4.0 * np.stack([_js(probs[m], y) for m in ("audio", "text")], -1))
    u /= u.sum(-1, keepdims=True)
    rai = _js(y, probs["fusion"])
    mai = (u * np.stack([_js(probs["fusion"], probs[m]) for m in ("audio", "text")], -1)).sum(-1)
    fid = _js(y, probs["audio"]) + _js(y, probs["text"])
    expected = np.mean(omega * (1.0 * rai + 0.5 * mai + 1.0 * fid))
    terms = amber2_loss(_t(probs), torch.tensor(y), student="fusion", lambda_mai=0.5, kappa=4.0,
                        options=AmbER2Options(class_balanced=True), class_weights=torch.tensor(w))
    assert float(terms.total) == pytest.approx(expected, rel=1e-9)
    assert float(terms.rai) == pytest.approx(np.mean(omega * rai), rel=1e-9)
    assert float(terms.mai) == pytest.approx(np.mean(omega * mai), rel=1e-9)


def test_null_expert_softmax_includes_the_priors_distance(batch):
    y, probs = batch
    prior = y.mean(0)
    d = np.stack([_js(probs["audio"], y), _js(probs["text"], y), _js(np.broadcast_to(prior, y.shape), y)], -1)
    e = np.exp(-8.0 * d)
    u = (e / e.sum(-1, keepdims=True))[:, :2]
    terms = amber2_loss(_t(probs), torch.tensor(y), student="fusion", kappa=8.0,
                        options=AmbER2Options(null_expert=True), prior=torch.tensor(prior))
    np.testing.assert_allclose(terms.u.numpy(), u, rtol=1e-9)
    assert (terms.u.sum(-1) < 1).all()
    mai = (u * np.stack([_js(probs["fusion"], probs[m]) for m in ("audio", "text")], -1)).sum(-1)
    assert float(terms.mai) == pytest.approx(mai.mean(), rel=1e-9)


def test_null_expert_silences_experts_no_better_than_the_prior():
    """Experts that predict the prior itself get u = 1 / (M + 1); much worse ones get ~0, so MAI ~ 0."""
    y = torch.tensor([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05]], dtype=torch.float64)
    prior = y.mean(0)
    bad = torch.tensor([[0.0, 0.0, 1.0]] * 2, dtype=torch.float64)
    probs = {"audio": bad, "text": bad, "fusion": torch.full((2, 3), 1 / 3, dtype=torch.float64)}
    on = amber2_loss(probs, y, student="fusion", kappa=32.0, options=AmbER2Options(null_expert=True), prior=prior)
    off = amber2_loss(probs, y, student="fusion", kappa=32.0)
    assert float(on.u.max()) < 1e-3 and float(on.mai) < 1e-3 * float(off.mai)
    same = {"audio": prior.expand(2, 3), "text": prior.expand(2, 3), "fusion": probs["fusion"]}
    eq = amber2_loss(same, y, student="fusion", options=AmbER2Options(null_expert=True), prior=prior)
    np.testing.assert_allclose(eq.u.numpy(), 1 / 3, rtol=1e-9)


def test_missing_tensors_name_the_option(batch):
    y, probs = batch
    with pytest.raises(ValueError, match="class_balanced needs class_weights"):
        amber2_loss(_t(probs), torch.tensor(y), student="fusion", options=AmbER2Options(class_balanced=True))
    with pytest.raises(ValueError, match="null_expert needs the class prior"):
        amber2_loss(_t(probs), torch.tensor(y), student="fusion", options=AmbER2Options(null_expert=True))
    with pytest.raises(ValueError, match="3 classes"):
        amber2_loss(_t(probs), torch.tensor(y), student="fusion", options=AmbER2Options(null_expert=True),
                    prior=torch.tensor([0.5, 0.5]))
