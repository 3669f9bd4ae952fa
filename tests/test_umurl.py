"""The UmURL objective against hand-computed values, its views and its fp32 regularisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_skel.core.config import ConfigError
from ssl_skel.models.encoders import InputSpec, SkeletonEncoder, build_encoder
from ssl_skel.objectives import build_method
from ssl_skel.objectives.umurl import vc_terms

SMALL_ENCODER = {"hidden_size": 8, "num_heads": 1}
SMALL_METHOD = {"proj_hidden_dim": 12, "proj_output_dim": 6}


def make(params=SMALL_METHOD):
    torch.manual_seed(0)
    enc = build_encoder("unified", SMALL_ENCODER, InputSpec("kinect20", 3, 1, 6))
    return build_method("umurl", params, enc)


def batch(views=2, n=5):
    g = torch.Generator().manual_seed(1)
    return {
        "views": [torch.randn(n, 3, 6, 20, 1, generator=g) for _ in range(views)],
        "label": torch.zeros(n, dtype=torch.int64),
        "index": torch.arange(n),
    }


def test_vc_terms_hand_worked():
    # columns: d0 = (1, -1) has variance 2, d1 = (0, 0) has variance 0; Cov = [[2, 0], [0, 0]]
    z = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    var, cov = vc_terms(z, eps=1e-4)
    assert var.item() == pytest.approx((0.0 + (1 - 0.01)) / 2)  # relu(1 - sqrt(2 + eps)) = 0
    assert cov.item() == pytest.approx(0.0)
    # perfectly correlated columns (1, -1) and (2, -2): Cov_01 = 4, sum of both off-diagonal
    # squares 32, divided by D = 2
    var, cov = vc_terms(torch.tensor([[1.0, 2.0], [-1.0, -2.0]]), eps=1e-4)
    assert cov.item() == pytest.approx(16.0)
    assert var.item() == pytest.approx(0.0)


def numpy_terms(z, u, eps=1e-4):
    """The objective written out in numpy, term by term."""

    def mse(a, b):
        return ((a - b) ** 2).mean()

    def var(a):
        std = np.sqrt(a.var(axis=0, ddof=1) + eps)
        return np.maximum(0.0, 1.0 - std).mean()

    def cov(a):
        a = a - a.mean(axis=0)
        c = a.T @ a / (a.shape[0] - 1)
        return (c**2).sum() - (np.diag(c) ** 2).sum(), a.shape[1]

    centre = sum(z) / 3
    return {
        "intra": sum(mse(a, b) for a, b in zip(z, u)),
        "inter": sum(mse(a, centre) for a in z),
        "var": sum(var(a) for a in z + u),
        "cov": sum(cov(a)[0] / cov(a)[1] for a in z + u),
    }


def test_loss_terms_against_numpy():
    method = make()
    rng = np.random.default_rng(0)
    z = [rng.normal(size=(4, 3)) * s for s in (0.3, 1.0, 2.0)]
    u = [rng.normal(size=(4, 3)) * s for s in (0.5, 1.5, 0.1)]
    got = method.loss_terms(
        [torch.tensor(a, dtype=torch.float32) for a in z], [torch.tensor(a, dtype=torch.float32) for a in u]
    )
    expected = numpy_terms(z, u)
    for key, value in expected.items():
        assert got[key].item() == pytest.approx(value, rel=1e-5), key


def test_forward_returns_weighted_sum_and_trains_everything():
    method = make({**SMALL_METHOD, "intra_weight": 2.0, "inter_weight": 3.0, "var_weight": 0.5, "cov_weight": 7.0})
    out = method(batch())
    assert set(out) == {"loss", "intra", "inter", "var", "cov", "stat/embed_std"}
    expected = 2.0 * out["intra"] + 3.0 * out["inter"] + 0.5 * out["var"] + 7.0 * out["cov"]
    torch.testing.assert_close(out["loss"], expected)
    assert all(torch.isfinite(v) for v in out.values())
    assert 0 < out["stat/embed_std"].item() < 1
    out["loss"].backward()
    for name, p in method.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_default_weights_and_size():
    enc = build_encoder("unified", {}, InputSpec("ntu25", 3, 2, 64))
    method = build_method("umurl", {}, enc)
    p = method.params
    assert (p.intra_weight, p.inter_weight, p.var_weight, p.cov_weight, p.proj_output_dim) == (5, 5, 5, 1, 4096)
    assert 72.0e6 < sum(t.numel() for t in method.parameters()) < 72.8e6
    assert method.encoder is enc and set(method.projectors) == {"joint", "bone", "motion"}


def test_two_views_equal_four_views_with_a_shared_single_view():
    method = make()
    b2 = batch(2)
    v1, v2 = b2["views"]
    b4 = {**b2, "views": [v1, v1, v1, v2]}
    torch.manual_seed(3)
    out2 = method(b2)
    torch.manual_seed(3)
    out4 = method(b4)
    torch.testing.assert_close(out2["loss"], out4["loss"])
    assert not torch.allclose(method(batch(4))["loss"], out2["loss"])


@pytest.mark.parametrize("views", [1, 3])
def test_wrong_number_of_views(views):
    with pytest.raises(ValueError, match="num_views"):
        make()(batch(views))


def test_regularisation_is_fp32_under_bf16_autocast():
    method = make()
    torch.manual_seed(0)
    z = [torch.randn(16, 64) * 30 for _ in range(3)]
    u = [torch.randn(16, 64) * 30 for _ in range(3)]
    reference = method.loss_terms(z, u)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = method.loss_terms(z, u)
        bf16_cov = vc_terms(z[0].bfloat16(), 1e-4)[1]  # bf16 inputs are upcast, not multiplied in bf16
    for key in reference:
        assert under[key].dtype == torch.float32, key
        torch.testing.assert_close(under[key], reference[key], rtol=1e-6, atol=0)
    assert bf16_cov.dtype == torch.float32


def test_whole_step_under_bf16_autocast_has_fp32_terms():
    method = make()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = method(batch())
    assert out["cov"].dtype == torch.float32 and torch.isfinite(out["loss"])


class SingleStream(SkeletonEncoder):
    modalities = ("joint",)
    dim = 4


def test_needs_a_unified_encoder():
    enc = SingleStream(InputSpec("ntu25", 3, 2, 8))
    with pytest.raises(ValueError, match="model.name: unified"):
        build_method("umurl", {}, enc)


@pytest.mark.parametrize(
    "params,key",
    [({"var_eps": 0.0}, "var_eps"), ({"cov_weight": -1.0}, "cov_weight"), ({"lambda": 1.0}, "objective.params.lambda")],
)
def test_bad_params_are_config_errors(params, key):
    enc = build_encoder("unified", SMALL_ENCODER, InputSpec("ntu25", 3, 2, 8))
    with pytest.raises(ConfigError, match=key):
        build_method("umurl", params, enc)


@pytest.mark.parametrize("n,d", [(5, 9), (9, 5), (6, 6)])
def test_covariance_term_equals_lightly_value_and_gradient(n, d):
    from lightly.loss.vicreg_loss import covariance_loss

    from ssl_skel.objectives.umurl import covariance_term

    z = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
    ours = covariance_term(z)
    (grad_ours,) = torch.autograd.grad(ours, z)
    theirs = covariance_loss(z)
    (grad_theirs,) = torch.autograd.grad(theirs, z)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(grad_ours, grad_theirs)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-9), (torch.float32, 2e-4)])
def test_optimised_step_equals_the_plain_implementation(dtype, tol):
    """Loss and every gradient of the step with folded attention equal the unfolded (plain) step's."""
    from ssl_skel.models.encoders.unified import TransformerLayer

    def run(min_tokens):
        old = TransformerLayer.merge_min_tokens
        TransformerLayer.merge_min_tokens = min_tokens
        try:
            torch.manual_seed(0)
            enc = build_encoder("unified", {"hidden_size": 16, "num_heads": 1}, InputSpec("ntu25", 3, 2, 8))
            method = build_method("umurl", {"proj_hidden_dim": 24, "proj_output_dim": 32}, enc).to(dtype)
            with torch.no_grad():
                for layer in [*enc.temporal.layers, *enc.spatial.layers]:
                    layer.qkv.bias.normal_()
                    layer.proj.bias.normal_()
            g = torch.Generator().manual_seed(1)
            views = [torch.randn(6, 3, 8, 25, 2, generator=g).to(dtype) for _ in range(4)]
            out = method({"views": views, "label": torch.zeros(6, dtype=torch.int64), "index": torch.arange(6)})
            out["loss"].backward()
            return out, {n: p.grad for n, p in method.named_parameters()}
        finally:
            TransformerLayer.merge_min_tokens = old

    plain, g_plain = run(10**9)
    folded, g_folded = run(0)
    for key in ("loss", "intra", "inter", "var", "cov"):
        torch.testing.assert_close(folded[key], plain[key], rtol=tol, atol=tol)
    assert g_plain.keys() == g_folded.keys()
    # relative to the largest gradient: some true gradients are exactly zero (the last layer
    # norm's bias: the projectors' batch norm cancels a constant shift) and read as rounding noise
    scale = max(float(g.abs().max()) for g in g_plain.values())
    for name, grad in g_plain.items():
        torch.testing.assert_close(g_folded[name] / scale, grad / scale, rtol=0, atol=tol, msg=name)
