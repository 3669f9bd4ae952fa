"""The unified (UmURL) encoder: shapes per layout, gradients, modality batching, input checks."""

from __future__ import annotations

import pytest
import torch

from ssl_skel.core.config import ConfigError
from ssl_skel.models.encoders import InputSpec, build_encoder
from ssl_skel.models.encoders.unified import UnifiedEncoder, sinusoidal_positions

SMALL = {"hidden_size": 16, "num_heads": 2, "num_layers": 1}
MODALITIES = ["fused", "joint", "bone", "motion"]


def make(layout="ntu25", c=3, m=2, t=8, params=SMALL) -> UnifiedEncoder:
    torch.manual_seed(0)
    return build_encoder("unified", params, InputSpec(layout, c, m, t))


@pytest.mark.parametrize(
    "layout,c,v,m", [("ntu25", 3, 25, 2), ("kinect20", 3, 20, 1), ("coco17", 2, 17, 1), ("coco17", 2, 17, 2)]
)
def test_shapes_every_layout(layout, c, v, m):
    enc = make(layout, c, m)
    x = torch.randn(3, c, 8, v, m)
    out = enc.forward_modalities(x, MODALITIES)
    assert enc.dim == 32 and enc.modalities == tuple(MODALITIES)
    assert {k: tuple(t.shape) for k, t in out.items()} == {k: (3, 32) for k in MODALITIES}
    assert enc(x).shape == (3, 32) and enc(x, "bone").shape == (3, 32)


def test_parameter_count_matches_hand_count():
    d, f, c, t, v, m = 16, 16, 3, 8, 25, 2
    t_in, s_in = m * v * c, t * c

    def embed(n_in):  # Linear, LayerNorm, Linear
        return n_in * d + d + 2 * d + d * d + d

    layer = 3 * d * d + 3 * d + d * d + d + 2 * d + d * f + f + f * d + d + 2 * d
    expected = 3 * (embed(t_in) + embed(s_in)) + 2 * d * d + 2 * layer
    assert make().num_parameters() == expected


def test_default_size_is_the_papers():
    enc = build_encoder("unified", {}, InputSpec("ntu25", 3, 2, 64))
    # 3 modalities x 2 streams of embeddings, 2 fusion layers, 2 one-layer transformers (d=1024)
    assert enc.dim == 2048
    assert 22.0e6 < enc.num_parameters() < 22.1e6


def test_gradients_reach_every_parameter():
    enc = make()
    x = torch.randn(4, 3, 8, 25, 2)
    out = enc.forward_modalities(x, MODALITIES)
    sum((o**2).sum() for o in out.values()).backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_modalities_differ_and_batched_call_equals_separate_calls():
    enc = make().eval()
    x = torch.randn(3, 3, 8, 25, 2)
    together = enc.forward_modalities(x, MODALITIES)
    for name in MODALITIES:
        torch.testing.assert_close(together[name], enc(x, name), rtol=1e-5, atol=1e-5)
    for a in MODALITIES:
        for b in MODALITIES:
            if a < b:
                assert not torch.allclose(together[a], together[b], atol=1e-3), (a, b)


def test_streams_of_different_views_equal_separate_calls():
    enc = make().eval()
    v1, v2 = torch.randn(2, 3, 8, 25, 2), torch.randn(2, 3, 8, 25, 2)
    joint, fused, motion = enc.forward_streams([("joint", v1), ("fused", v2), ("motion", v1)])
    torch.testing.assert_close(joint, enc(v1, "joint"), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fused, enc(v2, "fused"), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(motion, enc(v1, "motion"), rtol=1e-5, atol=1e-5)
    assert enc.forward_streams([]) == []


def test_bone_of_a_rigid_translation_is_unchanged():
    # bone = child - parent, so translating every joint leaves the bone stream as it was
    enc = make().eval()
    x = torch.randn(2, 3, 8, 25, 2)
    shifted = x + torch.tensor([1.0, -2.0, 0.5]).view(1, 3, 1, 1, 1)
    torch.testing.assert_close(enc(x, "bone"), enc(shifted, "bone"), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(enc(x, "joint"), enc(shifted, "joint"), atol=1e-3)


def test_positions_table():
    table = sinusoidal_positions(4, 6)
    assert table.shape == (4, 6)
    assert table[0].tolist() == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    assert table[1, 0].item() == pytest.approx(torch.sin(torch.tensor(1.0)).item())
    assert table[1, 3].item() == pytest.approx(torch.cos(torch.tensor(10000 ** (-2 / 6))).item())


@pytest.mark.parametrize(
    "shape,message",
    [
        ((2, 3, 8, 25), "5-d tensor"),
        ((2, 2, 8, 25, 2), "C=3 channels"),
        ((2, 3, 8, 20, 2), "V=25 joints"),
        ((2, 3, 8, 25, 1), "M=2 persons"),
        ((2, 3, 9, 25, 2), "T=8 frames"),
    ],
)
def test_check_input_errors(shape, message):
    enc = make()
    with pytest.raises(ValueError, match=message):
        enc(torch.randn(*shape))


def test_integer_input_and_unknown_modality_are_errors():
    enc = make()
    with pytest.raises(ValueError, match="floating-point"):
        enc(torch.zeros(2, 3, 8, 25, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="bone_motion"):
        enc(torch.randn(2, 3, 8, 25, 2), "bone_motion")


@pytest.mark.parametrize(
    "params,key",
    [
        ({"hidden_sise": 8}, "model.params.hidden_sise"),
        ({"hidden_size": 10, "num_heads": 3}, "divisible"),
        ({"dropout": 1.5}, "dropout"),
        ({"hidden_size": "big"}, "model.params.hidden_size"),
    ],
)
def test_bad_params_are_config_errors(params, key):
    with pytest.raises(ConfigError, match=key):
        build_encoder("unified", params, InputSpec("ntu25", 3, 2, 8))


def test_unknown_encoder_name():
    with pytest.raises(ConfigError, match="unified"):
        build_encoder("transfromer", {}, InputSpec("ntu25", 3, 2, 8))


def test_fused_stream_is_the_transformer_of_averaged_embeddings():
    from ssl_skel.data.modalities import to_modality

    enc = make().eval()
    x = torch.randn(2, 3, 8, 25, 2)
    temporal, spatial = [], []
    for k in ("joint", "bone", "motion"):
        y = to_modality(x, k, enc.layout)
        temporal.append(enc.temporal_embed[k](y.permute(0, 2, 4, 3, 1).reshape(2, 8, 150)))
        spatial.append(enc.spatial_embed[k](y.permute(0, 4, 3, 2, 1).reshape(2, 50, 24)))
    t = enc.temporal_fuse(sum(temporal) / 3) + sinusoidal_positions(8, 16)
    s = enc.spatial_fuse(sum(spatial) / 3)
    expected = torch.cat([enc.temporal(t), enc.spatial(s)], dim=1)
    torch.testing.assert_close(enc(x, "fused"), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("heads", [1, 4])
def test_layer_equals_torch_post_norm_transformer_layer(heads):
    from torch import nn

    from ssl_skel.models.encoders.unified import TransformerLayer

    torch.manual_seed(0)
    ours = TransformerLayer(16, heads, 24, dropout=0.0)
    ref = nn.TransformerEncoderLayer(16, heads, 24, dropout=0.0, batch_first=True)
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(ours.qkv.weight)
        ref.self_attn.in_proj_bias.copy_(ours.qkv.bias)
        ref.self_attn.out_proj.weight.copy_(ours.proj.weight)
        ref.self_attn.out_proj.bias.copy_(ours.proj.bias)
        for a, b in [
            (ref.linear1, ours.ff1),
            (ref.linear2, ours.ff2),
            (ref.norm1, ours.norm1),
            (ref.norm2, ours.norm2),
        ]:
            a.weight.copy_(b.weight)
            a.bias.copy_(b.bias)
    x = torch.randn(3, 7, 16)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)


def test_attention_matches_sdpa_and_dropout_only_in_training():
    import torch.nn.functional as F

    from ssl_skel.models.encoders.unified import attention

    q, k, v = torch.randn(3, 2, 5, 4, 8).unbind(0)
    torch.testing.assert_close(attention(q, k, v, 0.0), F.scaled_dot_product_attention(q, k, v))
    enc = make(params={**SMALL, "dropout": 0.5})
    x = torch.randn(2, 3, 8, 25, 2)
    assert not torch.allclose(enc(x), enc(x))
    enc.eval()
    torch.testing.assert_close(enc(x), enc(x))


def _layer_grads(layer, x, merged: bool):
    from ssl_skel.models.encoders.unified import TransformerLayer

    old = TransformerLayer.merge_min_tokens
    TransformerLayer.merge_min_tokens = 0 if merged else 10**9
    try:
        assert layer.use_merged(x) == merged
        layer.zero_grad(set_to_none=True)
        xx = x.clone().requires_grad_(True)
        out = layer(xx)
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        grads = {n: p.grad.clone() for n, p in layer.named_parameters()}
        return out.detach(), xx.grad, grads
    finally:
        TransformerLayer.merge_min_tokens = old


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 2e-4)])
def test_folded_attention_equals_plain_attention_and_gradients(dtype, tol):
    from ssl_skel.models.encoders.unified import TransformerLayer

    torch.manual_seed(0)
    layer = TransformerLayer(32, 1, 24, dropout=0.0).to(dtype)
    with torch.no_grad():  # non-zero biases, so every folded bias term is exercised
        layer.qkv.bias.normal_()
        layer.proj.bias.normal_()
    x = torch.randn(4, 10, 32, dtype=dtype)
    out_p, gx_p, g_p = _layer_grads(layer, x, merged=False)
    out_m, gx_m, g_m = _layer_grads(layer, x, merged=True)
    torch.testing.assert_close(out_m, out_p, rtol=tol, atol=tol)
    torch.testing.assert_close(gx_m, gx_p, rtol=tol, atol=tol)
    for name in g_p:
        torch.testing.assert_close(g_m[name], g_p[name], rtol=tol, atol=tol * 10, msg=name)
    # the key bias only shifts each softmax row: its true gradient is zero on both paths
    d = 32
    assert g_m["qkv.bias"][d : 2 * d].abs().max() == 0
    assert g_p["qkv.bias"][d : 2 * d].abs().max() < tol * 10


def test_folded_attention_only_where_it_pays_and_is_exact():
    from ssl_skel.models.encoders.unified import TransformerLayer

    one = TransformerLayer(16, 1, 16, dropout=0.0)
    assert one.use_merged(torch.zeros(2, 8, 16)) and not one.use_merged(torch.zeros(1, 8, 16))  # >= d tokens
    assert not TransformerLayer(16, 2, 16, dropout=0.0).use_merged(torch.zeros(4, 8, 16))  # one head only
    drop = TransformerLayer(16, 1, 16, dropout=0.1)
    assert not drop.use_merged(torch.zeros(4, 8, 16))  # attention dropout breaks the row-sum identity
    assert drop.eval().use_merged(torch.zeros(4, 8, 16))


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_folded_fused_embedding_at_inference_equals_the_unfolded_features(dtype, tol):
    enc = make(params={"hidden_size": 16, "num_heads": 1}).to(dtype).eval()
    with torch.no_grad():
        for k in MODALITIES[1:]:
            enc.temporal_embed[k].out.bias.normal_()
            enc.spatial_embed[k].out.bias.normal_()
    x = torch.randn(5, 3, 8, 25, 2, dtype=dtype)
    y = torch.randn(5, 3, 8, 25, 2, dtype=dtype)
    streams = [("fused", x), ("joint", x), ("bone", y), ("fused", y)]
    with torch.no_grad():
        enc.fold_min_tokens = 10**9
        assert not enc._folds(streams)
        plain = enc.forward_streams(streams)
        enc.fold_min_tokens = 0
        assert enc._folds(streams)
        folded = enc.forward_streams(streams)
    for a, b in zip(folded, plain):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)
    assert not enc._folds(streams)  # never while gradients are recorded (fold_min_tokens is still 0)


def test_inference_path_equals_the_recorded_path():
    enc = make(params={"hidden_size": 16, "num_heads": 1}).eval()
    x = torch.randn(4, 3, 8, 25, 2)
    recorded = enc.forward_modalities(x, MODALITIES)
    with torch.inference_mode():
        inference = enc.forward_modalities(x, MODALITIES)
    for k in MODALITIES:
        torch.testing.assert_close(inference[k], recorded[k].detach(), rtol=1e-5, atol=1e-5)
