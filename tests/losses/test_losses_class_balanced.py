"""CB-CE baseline: the EMO-SUPERB fixture of docs/metrics_and_losses.md, the loss formula, soft CE, masking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from amber2.losses import (
    cb_ce_loss,
    class_balanced_weights,
    effective_number_weights,
    soft_cross_entropy,
    soft_label_counts,
)

# EMO-SUPERB IEMOCAP fold 1 training set (docs/metrics_and_losses.md, Baselines)
CLASSES = ["frustrated", "angry", "sad", "disgust", "excited", "fear", "neutral", "surprise", "happy"]
N_K = [2738, 1569, 1292, 212, 1602, 199, 2603, 418, 1425]
W_K = [0.2513, 0.3987, 0.4732, 2.6314, 0.3916, 2.8001, 0.2615, 1.3584, 0.4338]
N = 5766


def fixture_soft_labels() -> np.ndarray:
    """N soft labels over 9 classes in which class k exceeds 1/9 in exactly N_K[k] rows."""
    member = np.zeros((N, 9), dtype=bool)
    start = 0
    for k, n_k in enumerate(N_K):  # cyclic fill: a class never lands twice in one row since n_k < N
        rows = (start + np.arange(n_k)) % N
        member[rows, k] = True
        start = (start + n_k) % N
    sizes = member.sum(1)
    assert sizes.min() >= 1 and sizes.max() <= 4
    y = np.where(member, 1.0, 0.0) / sizes[:, None]
    return y


def test_emo_superb_fixture():
    y = fixture_soft_labels()
    assert soft_label_counts(y).tolist() == N_K
    w = class_balanced_weights(y)
    np.testing.assert_allclose(w, W_K, atol=1e-3)
    np.testing.assert_allclose(effective_number_weights(N_K, n_items=N), W_K, atol=1e-3)
    assert w.sum() == pytest.approx(9.0)
    # the reading matters: a common beta = 0.9999 does not reproduce the table
    assert np.abs(effective_number_weights(N_K, beta=0.9999) - W_K).max() > 0.01
    assert class_balanced_weights(torch.as_tensor(y)).tolist() == pytest.approx(w.tolist())


def test_weights_edge_cases():
    assert effective_number_weights([5, 0, 3], beta=0.0).tolist() == [1.0, 1.0, 1.0]
    w = effective_number_weights([0, 1, 10], n_items=10)
    assert w[0] == pytest.approx(w[1])  # n_k = 0 counts as 1
    assert w[0] > w[2] and w.sum() == pytest.approx(3.0)
    # uniform soft labels are not above 1/K: every n_k is 0 -> uniform weights
    assert class_balanced_weights(np.full((4, 3), 1 / 3)).tolist() == pytest.approx([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\)"):
        effective_number_weights([1, 2], beta=1.0)
    with pytest.raises(ValueError, match="n_items"):
        effective_number_weights([1, 2])
    with pytest.raises(ValueError, match=r"negative entries in 1 row\(s\), first: \[1\]"):
        class_balanced_weights([[0.5, 0.5], [1.5, -0.5]])
    with pytest.raises(ValueError, match="2-D"):
        class_balanced_weights([0.5, 0.5])


def test_cb_ce_formula_by_hand():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 4, generator=gen, dtype=torch.float64)
    y = torch.nn.functional.one_hot(torch.randint(0, 4, (8, 3), generator=gen), 4).double().mean(1)
    w = np.array([0.5, 1.0, 1.5, 1.0])
    z = logits.numpy()
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    yn = y.numpy()
    expected = np.mean((yn @ w) * -(yn * log_p).sum(1))
    assert cb_ce_loss(logits, y, w).item() == pytest.approx(expected, abs=1e-12)
    per = cb_ce_loss(logits, y, torch.as_tensor(w), reduction="none")
    assert per.shape == (8,) and per.mean().item() == pytest.approx(expected, abs=1e-12)
    # unit weights: omega = sum_k y_k = 1, CB-CE is soft CE
    torch.testing.assert_close(cb_ce_loss(logits, y, np.ones(4)), soft_cross_entropy(logits, y))


def test_soft_ce_against_torch():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 6, 5, generator=gen, dtype=torch.float64)
    y = torch.softmax(torch.randn(6, 5, generator=gen, dtype=torch.float64), -1)
    y[0] = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0])
    ref = torch.nn.functional.cross_entropy(logits.reshape(-1, 5), y.expand(2, 6, 5).reshape(-1, 5),
                                            reduction="none").reshape(2, 6)
    torch.testing.assert_close(soft_cross_entropy(logits, y, reduction="none"), ref)
    torch.testing.assert_close(soft_cross_entropy(logits, y), ref.mean(-1))


def test_zero_targets_with_minus_inf_logits_stay_finite():
    logits = torch.tensor([[0.0, -torch.inf, 1.0]], requires_grad=True)
    y = torch.tensor([[0.5, 0.0, 0.5]])
    loss = cb_ce_loss(logits, y, [1.0, 1.0, 1.0])
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_per_run_class_weights_and_masking():
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(3, 7, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.one_hot(torch.randint(0, 4, (7, 2), generator=gen), 4).double().mean(1)
    y[5:] = 0.0
    w = torch.tensor([[1.0, 2.0, 0.5, 0.5], [1.0, 1.0, 1.0, 1.0], [0.25, 0.25, 3.0, 0.5]], dtype=torch.float64)
    mask = torch.tensor([1, 1, 1, 1, 1, 0, 0], dtype=torch.float64)
    stacked = cb_ce_loss(logits, y, w[:, None, :], sample_weight=mask)
    assert stacked.shape == (3,)
    stacked.sum().backward()
    for r in range(3):
        z = logits.detach()[r, :5].clone().requires_grad_()
        one = cb_ce_loss(z, y[:5], w[r])
        one.backward()
        assert one.item() == pytest.approx(stacked[r].item(), abs=1e-12)
        torch.testing.assert_close(z.grad, logits.grad[r, :5])
        assert torch.all(logits.grad[r, 5:] == 0)
    soft = soft_cross_entropy(logits.detach(), y, sample_weight=mask)
    torch.testing.assert_close(soft, soft_cross_entropy(logits.detach()[:, :5], y[:5]))


def test_errors():
    with pytest.raises(ValueError, match="4 classes on its last axis"):
        cb_ce_loss(torch.zeros(2, 4), torch.full((2, 4), 0.25), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="same number of classes"):
        soft_cross_entropy(torch.zeros(2, 4), torch.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="reduction"):
        soft_cross_entropy(torch.zeros(2, 3), torch.full((2, 3), 1 / 3), reduction="sum")
