"""The gated fusion (Eq. 2) against values worked out by hand on tiny weights.

h_AT = g * tanh(W_A h_A + b_A) + (1 - g) * tanh(W_T h_T + b_T),  g = sigmoid(W_g [h_A; h_T] + b_g)
"""

from __future__ import annotations

import pytest
import torch

from amber2.model.heads import AmbER2Model, GatedFusion, ModelConfig

H_A = [1.0, -1.0]  # d_A = 2
H_T = [2.0]  # d_T = 1
W_A, B_A = [[0.5, 0.0], [0.0, -1.0]], [0.0, 0.25]  # W_A h_A + b_A = [0.5, 1.25]
W_T, B_T = [[1.0], [-0.5]], [0.0, 0.0]  # W_T h_T + b_T = [2, -1]
# tanh(0.5) = 0.462117, tanh(1.25) = 0.848284; tanh(2) = 0.964028, tanh(-1) = -0.761594
Z_A = [0.4621171573, 0.8482836400]
Z_T = [0.9640275801, -0.7615941560]


def _fusion(gate_input: str, W_g: list[list[float]], b_g: list[float]) -> GatedFusion:
    f = GatedFusion({"audio": 2, "text": 1}, fusion_dim=2, gate_input=gate_input)
    with torch.no_grad():
        f.proj["audio"].weight.copy_(torch.tensor(W_A))
        f.proj["audio"].bias.copy_(torch.tensor(B_A))
        f.proj["text"].weight.copy_(torch.tensor(W_T))
        f.proj["text"].bias.copy_(torch.tensor(B_T))
        f.gate.weight.copy_(torch.tensor(W_g))
        f.gate.bias.copy_(torch.tensor(b_g))
    return f.double()


def _inputs() -> dict[str, torch.Tensor]:
    return {"audio": torch.tensor([H_A], dtype=torch.float64), "text": torch.tensor([H_T], dtype=torch.float64)}


def test_gate_on_the_embeddings_matches_the_hand_computed_values():
    # W_g [h_A; h_T] + b_g = [1*1, 0.5*2 - 1] = [1, 0]  ->  g = [sigmoid(1), sigmoid(0)] = [0.731059, 0.5]
    f = _fusion("embeddings", [[1.0, 0.0, 0.0], [0.0, 0.0, 0.5]], [0.0, -1.0])
    g = [0.7310585786, 0.5]
    # h_AT[0] = 0.731059 * 0.462117 + 0.268941 * 0.964028 = 0.337835 + 0.259267 = 0.597102
    # h_AT[1] = 0.5 * 0.848284 + 0.5 * (-0.761594) = 0.043345
    expected = [0.5971016598, 0.0433447420]
    assert [g[i] * Z_A[i] + (1 - g[i]) * Z_T[i] for i in range(2)] == pytest.approx(expected, abs=1e-9)
    out = f(_inputs())
    assert out.shape == (1, 2)
    assert out[0].tolist() == pytest.approx(expected, abs=1e-9)


def test_gate_on_the_projections_matches_the_hand_computed_values():
    # gate_input="projections": g = sigmoid(W_g [z_A; z_T]); W_g = [[1, 0, -1, 0], [0, 1, 0, 1]]
    # -> logits [0.462117 - 0.964028, 0.848284 - 0.761594] = [-0.501910, 0.086689], g = [0.377092, 0.521659]
    f = _fusion("projections", [[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 1.0]], [0.0, 0.0])
    # h_AT = [0.377092 * 0.462117 + 0.622908 * 0.964028, 0.521659 * 0.848284 + 0.478341 * (-0.761594)]
    expected = [0.7747612665, 0.0782127773]
    assert f(_inputs())[0].tolist() == pytest.approx(expected, abs=1e-9)


def test_the_gate_interpolates_between_the_two_projections():
    # a very large gate logit selects tanh(W_A h_A), a very negative one tanh(W_T h_T)
    for bias, want in ((50.0, Z_A), (-50.0, Z_T)):
        f = _fusion("embeddings", [[0.0] * 3, [0.0] * 3], [bias, bias])
        assert f(_inputs())[0].tolist() == pytest.approx(want, abs=1e-9)


def test_the_model_feeds_the_fused_representation_to_the_fusion_head():
    cfg = ModelConfig(dims={"audio": 2, "text": 1}, n_classes=2, hidden=3, fusion_dim=2)
    model = AmbER2Model(cfg, seed=0).double()
    fused = _fusion("embeddings", [[1.0, 0.0, 0.0], [0.0, 0.0, 0.5]], [0.0, -1.0])
    model.fusion.load_state_dict(fused.state_dict())
    logits = model(_inputs())["fusion"]
    head = model.heads["fusion"]
    h = torch.tensor([[0.5971016598, 0.0433447420]], dtype=torch.float64)
    assert logits[0].tolist() == pytest.approx(head(h)[0].tolist(), abs=1e-8)
