"""AmbER² loss (Eq. 3-6): values, expert weights, decision switches, ensemble broadcasting, masking."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from amber2.losses import (
    AmbER2Options,
    amber2_loss,
    expert_distances,
    expert_weights,
    js_divergence,
    modality_alignment,
)
from amber2.metrics import js_divergence_per_item

HEADS = ("audio", "text", "fusion")


def make_batch(seed: int, lead: tuple[int, ...] = (), b: int = 6, c: int = 4, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    votes = torch.randint(0, c, (b, 3), generator=gen)
    y = torch.nn.functional.one_hot(votes, c).to(dtype).mean(1)  # 3 raters: exact zeros
    logits = {h: torch.randn((*lead, b, c), generator=gen, dtype=dtype, requires_grad=True) for h in HEADS}
    return y, logits


def probs_of(logits):
    return {h: torch.softmax(z, -1) for h, z in logits.items()}


def test_total_matches_the_equations_by_hand():
    y, logits = make_batch(0)
    probs = probs_of(logits)
    terms = amber2_loss(probs, y, student="fusion", lambda_rai=1.0, lambda_mai=0.5, kappa=4.0)
    yn = y.numpy()
    pn = {h: p.detach().numpy() for h, p in probs.items()}
    rai = js_divergence_per_item(yn, pn["fusion"])
    D = np.stack([js_divergence_per_item(pn[m], yn) for m in ("audio", "text")], -1)
    u = np.exp(-4.0 * D) / np.exp(-4.0 * D).sum(-1, keepdims=True)
    align = np.stack([js_divergence_per_item(pn["fusion"], pn[m]) for m in ("audio", "text")], -1)
    mai = (u * align).sum(-1)
    experts = js_divergence_per_item(yn, pn["audio"]) + js_divergence_per_item(yn, pn["text"])
    assert terms.experts == ("audio", "text") and terms.student == "fusion"
    np.testing.assert_allclose(terms.u.detach().numpy(), u, atol=1e-10)
    np.testing.assert_allclose(terms.D.detach().numpy(), D, atol=1e-10)
    assert terms.rai.item() == pytest.approx(rai.mean(), abs=1e-10)
    assert terms.mai.item() == pytest.approx(mai.mean(), abs=1e-10)
    assert terms.expert_rai["text"].item() == pytest.approx(js_divergence_per_item(yn, pn["text"]).mean(), abs=1e-10)
    assert terms.total.item() == pytest.approx(rai.mean() + 0.5 * mai.mean() + experts.mean(), abs=1e-10)
    no_fid = amber2_loss(probs, y, student="fusion", options=AmbER2Options(expert_fidelity=False))
    assert no_fid.total.item() == pytest.approx(rai.mean() + 0.5 * mai.mean(), abs=1e-10)  # exactly Eq. 6
    summary = terms.summary()
    assert set(summary) == {"total", "rai", "mai", "rai/audio", "rai/text"}
    assert all(isinstance(v, float) for v in summary.values())


def test_expert_weights_sum_to_one_and_prefer_the_closer_expert():
    y = torch.tensor([[1.0, 0.0, 0.0]])
    close, far = torch.tensor([[0.8, 0.1, 0.1]]), torch.tensor([[0.1, 0.8, 0.1]])
    D = expert_distances([far, close], y)
    u = expert_weights(D, kappa=4.0)
    assert torch.allclose(u.sum(-1), torch.ones(1)) and u[0, 1] > u[0, 0]
    assert expert_weights(D, kappa=8.0)[0, 1] > u[0, 1]  # sharper
    assert torch.allclose(expert_weights(D, kappa=0.0), torch.full((1, 2), 0.5))  # uniform
    gen = torch.Generator().manual_seed(1)
    D = torch.rand(3, 5, 4, generator=gen)
    u = expert_weights(D, kappa=torch.tensor([[1.0], [2.0], [4.0]]))
    assert torch.allclose(u.sum(-1), torch.ones(3, 5))
    torch.testing.assert_close(u[2], expert_weights(D[2], kappa=4.0))


def test_single_head_has_no_mai():
    y, logits = make_batch(2)
    probs = {"audio": torch.softmax(logits["audio"], -1)}
    terms = amber2_loss(probs, y, student="audio", lambda_mai=0.7, kappa=8.0)
    assert terms.experts == () and terms.u.shape == (6, 0) and terms.D.shape == (6, 0)
    assert terms.mai.item() == 0.0
    assert terms.total.item() == pytest.approx(terms.rai.item())
    terms.total.backward()
    assert torch.isfinite(logits["audio"].grad).all()


def expert_grads(options: AmbER2Options, lambda_mai: float, kappa: float):
    y, logits = make_batch(3)
    terms = amber2_loss(probs_of(logits), y, student="fusion", lambda_mai=lambda_mai, kappa=kappa, options=options)
    terms.total.backward()
    return {h: logits[h].grad.clone() if logits[h].grad is not None else torch.zeros(6, 4) for h in HEADS}


def test_default_expert_gradients_do_not_depend_on_lambda_mai_or_kappa():
    base = expert_grads(AmbER2Options(), 0.3, 2.0)
    other = expert_grads(AmbER2Options(), 0.7, 8.0)
    for h in ("audio", "text"):
        torch.testing.assert_close(base[h], other[h])
        assert base[h].abs().sum() > 0  # the experts do learn (fidelity term)
    assert not torch.allclose(base["fusion"], other["fusion"])  # the student does depend on them


def test_switches_change_expert_gradients_as_documented():
    # decision 3 off: u carries gradient, so kappa and lambda_mai reach the experts
    opts = AmbER2Options(detach_weights=False)
    assert not torch.allclose(expert_grads(opts, 0.5, 2.0)["audio"], expert_grads(opts, 0.5, 8.0)["audio"])
    # decision 2 off: JS(s || p_m) pulls the experts, scaled by lambda_mai
    opts = AmbER2Options(detach_experts=False)
    assert not torch.allclose(expert_grads(opts, 0.3, 4.0)["audio"], expert_grads(opts, 0.7, 4.0)["audio"])
    # decision 1 off (with detached experts): Eq. 6 alone gives the experts no gradient at all
    grads = expert_grads(AmbER2Options(expert_fidelity=False), 0.5, 4.0)
    assert grads["audio"].abs().max() == 0 and grads["text"].abs().max() == 0
    # decision 4: the square root changes the values
    y, logits = make_batch(4)
    probs = probs_of(logits)
    div = amber2_loss(probs, y, student="fusion")
    dist = amber2_loss(probs, y, student="fusion", options=AmbER2Options(js="distance"))
    assert dist.rai.item() == pytest.approx(js_divergence(y, probs["fusion"]).sqrt().mean().item())
    assert dist.rai.item() > div.rai.item()


@pytest.mark.parametrize(
    "options",
    [AmbER2Options(), AmbER2Options(detach_experts=False, detach_weights=False), AmbER2Options(js="distance")],
)
def test_gradcheck_wrt_student_logits(options):
    y, logits = make_batch(5, b=3)
    experts = {h: torch.softmax(logits[h].detach(), -1) for h in ("audio", "text")}

    def f(z):
        return amber2_loss({**experts, "fusion": torch.softmax(z, -1)}, y, student="fusion", options=options).total

    assert torch.autograd.gradcheck(f, (logits["fusion"].detach().requires_grad_(),))


def test_gradcheck_all_heads_without_detach():
    y, logits = make_batch(6, b=3)
    opts = AmbER2Options(detach_experts=False, detach_weights=False)

    def f(a, t, s):
        probs = {"audio": torch.softmax(a, -1), "text": torch.softmax(t, -1), "fusion": torch.softmax(s, -1)}
        return amber2_loss(probs, y, student="fusion", options=opts).total

    inputs = tuple(logits[h].detach().requires_grad_() for h in HEADS)
    assert torch.autograd.gradcheck(f, inputs)


def test_stacked_ensemble_equals_loop_over_runs():
    g, s, b, c = 2, 3, 5, 4
    gen = torch.Generator().manual_seed(7)
    y = torch.nn.functional.one_hot(torch.randint(0, c, (g, 1, b, 2), generator=gen), c).double().mean(-2)
    audio = torch.randn(g, 1, b, c, generator=gen, dtype=torch.float64, requires_grad=True)  # shared experts
    text = torch.randn(g, 1, b, c, generator=gen, dtype=torch.float64, requires_grad=True)
    fusion = torch.randn(g, s, b, c, generator=gen, dtype=torch.float64, requires_grad=True)
    kappa = torch.tensor([2.0, 4.0, 8.0], dtype=torch.float64).expand(g, s)[..., None]
    lam = torch.tensor([0.3, 0.5, 0.7], dtype=torch.float64).expand(g, s)[..., None]
    opts = AmbER2Options(expert_fidelity=False)  # the trainer adds the shared experts' terms once
    probs = {"audio": torch.softmax(audio, -1), "text": torch.softmax(text, -1), "fusion": torch.softmax(fusion, -1)}
    terms = amber2_loss(probs, y, student="fusion", lambda_mai=lam, kappa=kappa, options=opts)
    assert terms.total.shape == (g, s) and terms.u.shape == (g, s, b, 2) and terms.D.shape == (g, s, b, 2)
    assert terms.expert_rai["audio"].shape == (g, 1)
    loss = terms.total.sum() + sum(v.sum() for v in terms.expert_rai.values())
    loss.backward()
    grad_fusion = fusion.grad.clone()
    for gi in range(g):
        for si in range(s):
            z = fusion.detach()[gi, si].clone().requires_grad_()
            p = {"audio": probs["audio"][gi, 0].detach(), "text": probs["text"][gi, 0].detach(),
                 "fusion": torch.softmax(z, -1)}
            one = amber2_loss(p, y[gi, 0], student="fusion", lambda_mai=float(lam[gi, si, 0]),
                              kappa=float(kappa[gi, si, 0]), options=opts)
            assert one.total.item() == pytest.approx(terms.total[gi, si].item(), abs=1e-12)
            torch.testing.assert_close(one.u, terms.u[gi, si])
            one.total.backward()
            torch.testing.assert_close(z.grad, grad_fusion[gi, si])
    # each shared expert was counted once: its gradient is that of one fidelity term per group
    for gi in range(g):
        a = audio.detach()[gi, 0].clone().requires_grad_()
        js_divergence(y[gi, 0], torch.softmax(a, -1)).mean().backward()
        torch.testing.assert_close(a.grad, audio.grad[gi, 0])


def test_sample_weight_masking_equals_dropping_padded_rows():
    y, logits = make_batch(8, b=7)
    y = y.clone()
    y[5:] = 0.0  # padded rows: zero targets
    mask = torch.tensor([1, 1, 1, 1, 1, 0, 0], dtype=torch.float64)
    full = amber2_loss(probs_of(logits), y, student="fusion", sample_weight=mask)
    full.total.backward()
    _, logits2 = make_batch(8, b=7)
    cut = {h: z.detach()[:5].clone().requires_grad_() for h, z in logits2.items()}
    ref = amber2_loss(probs_of(cut), y[:5], student="fusion")
    ref.total.backward()
    assert full.total.item() == pytest.approx(ref.total.item(), abs=1e-12)
    assert full.mai.item() == pytest.approx(ref.mai.item(), abs=1e-12)
    for h in HEADS:
        torch.testing.assert_close(logits[h].grad[:5], cut[h].grad)
        assert torch.all(logits[h].grad[5:] == 0)
    # real-valued weights: a weighted mean
    w = torch.tensor([1.0, 2.0, 0.5, 1.0, 1.0, 3.0, 1.0], dtype=torch.float64)
    y3, logits3 = make_batch(9, b=7)
    per = amber2_loss(probs_of(logits3), y3, student="fusion", options=AmbER2Options(expert_fidelity=False))
    weighted = amber2_loss(probs_of(logits3), y3, student="fusion", sample_weight=w)
    rai_i = js_divergence(y3, torch.softmax(logits3["fusion"], -1))
    assert weighted.rai.item() == pytest.approx(((rai_i * w).sum() / w.sum()).item())
    assert per.rai.item() == pytest.approx(rai_i.mean().item())


def test_modality_alignment_component():
    _, logits = make_batch(10)
    p = probs_of(logits)
    u = torch.tensor([0.25, 0.75], dtype=torch.float64).expand(6, 2)
    got = modality_alignment(p["fusion"], [p["audio"], p["text"]], u)
    ref = 0.25 * js_divergence(p["fusion"], p["audio"]) + 0.75 * js_divergence(p["fusion"], p["text"])
    torch.testing.assert_close(got, ref)
    with pytest.raises(ValueError, match=r"2 expert weights .* but 1 experts"):
        modality_alignment(p["fusion"], [p["audio"]], u)


def test_float32_with_zeros_stays_finite():
    y, logits = make_batch(11, dtype=torch.float32)
    for h in HEADS:
        with torch.no_grad():
            logits[h][0] = torch.tensor([120.0, -120.0, -120.0, 0.0])  # underflowing softmax
    for opts in (AmbER2Options(), AmbER2Options(detach_experts=False, detach_weights=False, js="distance")):
        for z in logits.values():
            z.grad = None
        terms = amber2_loss(probs_of(logits), y, student="fusion", options=opts)
        terms.total.backward()
        assert torch.isfinite(terms.total) and all(torch.isfinite(z.grad).all() for z in logits.values())


def test_options_json_round_trip_and_validation():
    opts = AmbER2Options(detach_weights=False, js="distance")
    assert AmbER2Options.from_dict(json.loads(json.dumps(opts.to_dict()))) == opts
    assert AmbER2Options.from_dict({}) == AmbER2Options()
    with pytest.raises(ValueError, match="unknown AmbER2Options keys"):
        AmbER2Options.from_dict({"detach": True})
    with pytest.raises(ValueError, match="'divergence' or 'distance'"):
        AmbER2Options(js="sqrt")
    with pytest.raises(ValueError, match="valid boolean"):
        AmbER2Options(expert_fidelity=1)


def test_input_errors():
    y, logits = make_batch(12, lead=(2, 3))
    probs = probs_of(logits)
    with pytest.raises(KeyError, match="student head 'video' is not in probs"):
        amber2_loss(probs, y, student="video")
    with pytest.raises(ValueError, match=r"kappa has shape \(2, 3\).*\(\.\.\., 1\)"):
        amber2_loss(probs, y, student="fusion", kappa=torch.ones(2, 3))
    amber2_loss(probs, y, student="fusion", kappa=torch.ones(2, 3, 1), lambda_mai=torch.ones(3, 1))
    with pytest.raises(ValueError, match="lambda_mai must be a finite number >= 0"):
        amber2_loss(probs, y, student="fusion", lambda_mai=-0.1)
    with pytest.raises(ValueError, match=r"probs\['text'\] has shape .* expected \(\.\.\., B, 4\)"):
        amber2_loss({**probs, "text": torch.ones(6, 5) / 5}, y, student="fusion")
    with pytest.raises(ValueError, match="do not broadcast"):
        amber2_loss({**probs, "text": torch.ones(4, 6, 4) / 4}, y, student="fusion")
    with pytest.raises(ValueError, match="sample_weight"):
        amber2_loss(probs, y, student="fusion", sample_weight=torch.ones(5))
    with pytest.raises(ValueError, match="non-negative"):
        amber2_loss(probs, y, student="fusion", sample_weight=-torch.ones(6))
    with pytest.raises(TypeError, match="AmbER2Options"):
        amber2_loss(probs, y, student="fusion", options={"js": "distance"})
    assert math.isfinite(amber2_loss(probs, y, student="fusion").total.sum().item())


@pytest.mark.parametrize("null_expert", [False, True])
@pytest.mark.parametrize("g", [2, 3])  # 3 = 1 + the number of experts: the stacked axis must not meet y's
def test_targets_with_more_leading_axes_than_the_heads(g, null_expert):
    """Heads (B, C) against targets (G, B, C): each target row scored as on its own."""
    _, logits = make_batch(11)
    gen = torch.Generator().manual_seed(12)
    y = torch.nn.functional.one_hot(torch.randint(0, 4, (g, 6, 3), generator=gen), 4).double().mean(-2)
    opts = AmbER2Options(null_expert=null_expert)
    prior = y.mean(dim=(0, 1))
    terms = amber2_loss(probs_of(logits), y, student="fusion", options=opts, prior=prior)
    assert terms.total.shape == (g,) and terms.D.shape == (g, 6, 2)
    for i in range(g):
        one = amber2_loss(probs_of(logits), y[i], student="fusion", options=opts, prior=prior)
        torch.testing.assert_close(terms.total[i], one.total)
        torch.testing.assert_close(terms.D[i], one.D)
        torch.testing.assert_close(terms.mai[i], one.mai)
