"""The papers' core mechanisms on hand-built inputs: EPAM-Net's pose-only attention,
UMDR's recoupling / CFCer gating / top-k attention / ShuffleMix, IntegralAction's
per-frame gate and regulariser weight, MMCL's FRM re-weighting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_fusion_adapters import K, batch, make

from ssl_skel.fusion.blocks import pose_heatmaps
from ssl_skel.fusion.integral import IntegralParams
from ssl_skel.fusion.mmcl import FeatureRefinement, MMCLParams
from ssl_skel.fusion.umdr import (
    RCM,
    CFCer,
    CrossAttention,
    EnhanceModule,
    UMDRParams,
    mix_batch,
    rcm_distillation,
    shufflemix,
    smooth_one_hot,
    topk_softmax,
    uniform_sampling,
)


# ------------------------------------------------------------------ EPAM-Net
def test_epam_attention_comes_from_pose_features_only():
    adapter = make("epam").eval()
    b = batch()
    maps = adapter._scores(b)
    other_rgb = dict(b, rgb=torch.rand_like(b["rgb"]))
    again = adapter._scores(other_rgb)
    for key in ("att", "spatial", "temporal"):
        assert torch.equal(maps[key], again[key]), f"{key} moved with the RGB input"
    assert not torch.equal(maps["rgb"], again["rgb"]), "the RGB logits do see the RGB"
    moved = adapter._scores(dict(b, views=[b["views"][0] + 0.5 * torch.randn_like(b["views"][0])]))
    assert not torch.allclose(maps["att"], moved["att"]), "the maps follow the pose"
    assert maps["att"].shape == (6, 1, 4, 2, 2) and float(maps["att"].min()) >= 0 and float(maps["att"].max()) <= 1


def test_epam_applies_attention_as_residual_gate_and_sums_logits():
    adapter = make("epam").eval()
    b = batch()
    s = adapter._scores(b)
    rgb = adapter.rgb_tower(b["rgb"])
    expected = adapter.rgb_head((rgb * (1 + s["att"])).mean((2, 3, 4)))
    assert torch.allclose(s["rgb"], expected, atol=1e-6)
    out = adapter.predict(b)
    assert torch.allclose(out["fused"], out["rgb"] + out["pose"])


def test_epam_attention_formula_by_hand():
    adapter = make("epam").eval()
    att = adapter.attention
    pose = torch.rand(2, 5, 3, 2, 2)
    pooled = torch.cat([pose.amax(1, keepdim=True), pose.mean(1, keepdim=True)], 1)
    bn = att.spatial_bn
    s = torch.sigmoid(
        (att.spatial_conv(pooled) - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    )
    w = att.temporal_conv.weight[0, 0]  # (7,)
    seq = F.pad(s.mean((3, 4))[:, 0], (3, 3))  # (N, F + 6)
    t = torch.sigmoid(torch.stack([(seq[:, i : i + 7] * w).sum(-1) for i in range(3)], -1))
    out, _, _ = att(pose)
    assert torch.allclose(out, s * t[:, None, :, None, None], atol=1e-6)


def test_pose_heatmaps_put_each_joint_where_it_is():
    x = torch.zeros(1, 3, 2, 25, 2)  # (N, C, T, V, M)
    x[0, 0, :, 0, 0], x[0, 1, :, 0, 0] = -1.0, 1.0  # joint 0 top left
    x[0, 0, :, 1, 0], x[0, 1, :, 1, 0] = 1.0, -1.0  # joint 1 bottom right
    heat = pose_heatmaps(x, frames=2, size=8, sigma=0.6, fill=0.5)
    assert heat.shape == (1, 25, 2, 8, 8)
    # centre (0, 0), extent 1 -> 2 pixels per unit: joint 0 at (col 2, row 2) -> pixel index 1.5 -> 1 or 2
    peak0 = divmod(int(heat[0, 0, 0].argmax()), 8)
    peak1 = divmod(int(heat[0, 1, 0].argmax()), 8)
    assert peak0[0] in (1, 2) and peak0[1] in (1, 2) and peak1[0] in (5, 6) and peak1[1] in (5, 6)
    assert float(heat[0, 2:].abs().max()) == 0.0, "absent joints draw nothing"
    assert float(heat.max()) <= 1.0


# ------------------------------------------------------------------ UMDR
P = UMDRParams(dim=16, heads=2, dim_head=8, mlp_dim=24, dropout=0.0, widths=(4, 8), depth=2)


def test_rcm_recoupling_shapes_gate_and_residual():
    torch.manual_seed(0)
    rcm = RCM(frames=4, out_dim=16, dim_head=3)
    x = torch.rand(2, 5, 4, 3, 3)
    out, distill = rcm(x)
    assert out.shape == x.shape and distill.shape == (2, 16)
    with torch.no_grad():  # a closed frame gate leaves only the residual
        rcm.project[3].weight.zero_()
        rcm.project[3].bias.fill_(-1e4)
    out, _ = rcm(x)
    assert torch.allclose(out, x, atol=1e-6)


def test_topk_softmax_keeps_the_largest_keys():
    dots = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    attn = topk_softmax(dots, 0.7)  # int(0.7 * 4) = 2 keys
    e = torch.tensor([math.exp(3.0), math.exp(2.0)])
    assert torch.allclose(attn, torch.tensor([[0.0, e[0] / e.sum(), e[1] / e.sum(), 0.0]]))


def test_cross_attention_takes_keys_from_the_other_modality_and_values_from_its_own():
    torch.manual_seed(0)
    att = CrossAttention(16, 2, 8, 24, 0.0, topk=1.0).eval()
    x_r = torch.randn(2, 5, 16)
    same = torch.randn(2, 1, 16).expand(2, 5, 16)  # identical keys -> uniform attention
    out_a = att(x_r, same)
    out_b = att(x_r, torch.randn(2, 1, 16).expand(2, 5, 16))
    assert torch.allclose(out_a, out_b, atol=1e-5), "with identical keys only x_r's values matter"
    v = att.v(x_r).mean(1, keepdim=True).expand(2, 5, 16)
    expected = att.norm(v) + x_r
    expected = att.ffn(att.ffn_norm(expected)) + expected
    assert torch.allclose(out_a, expected, atol=1e-5)
    assert not torch.allclose(att(x_r, torch.randn(2, 5, 16)), out_a), "varied keys re-weight the values"


def test_enhance_module_gates_each_modality_by_sigmoid():
    em = EnhanceModule(4)
    with torch.no_grad():
        for mlp, b in ((em.mlp_rgb, 0.0), (em.mlp_depth, 2.0)):
            mlp[2].weight.zero_()
            mlp[2].bias.fill_(b)
    xr, xd = torch.randn(3, 4), torch.randn(3, 4)
    gr_x, gd_x, gr, gd = em(xr, xd)
    assert torch.allclose(gr_x, 0.5 * xr) and torch.allclose(gd_x, torch.sigmoid(torch.tensor(2.0)) * xd)


def test_cfcer_shapes_and_per_modality_heads():
    torch.manual_seed(0)
    net = CFCer(frames=6, num_classes=K, p=P).eval()
    out_m, out_k, stats = net(torch.randn(3, 6, 16), torch.randn(3, 6, 16), torch.randn(3, 16), torch.randn(3, 16))
    assert out_m.shape == (3, K) and out_k.shape == (3, K) and not torch.allclose(out_m, out_k)
    assert 0 < float(stats["gate_rgb"]) < 1 and 0 < float(stats["gate_depth"]) < 1
    assert len(net.scc) == P.scc_depth and len(net.tcc) == P.tcc_depth and net.pos_m.shape == (1, 7, 16)


def test_umdr_answer_is_the_mean_of_four_logits_and_stages():
    adapter = make("umdr").eval()
    b = batch()
    out = adapter.predict(b)
    uni = adapter._unimodal({k: b[k] for k in ("rgb", "depth")})
    out_m, out_k, _ = adapter._fuse(uni)
    assert torch.allclose(out["fused"], (out["rgb"] + out["depth"] + out_m + out_k) / 4, atol=1e-5)
    adapter.set_stage("fusion")
    trainable = {n.split(".")[0] for n, p in adapter.named_parameters() if p.requires_grad}
    assert trainable == {"cfcer"}
    logs = adapter.train()(b)
    assert "loss/ce_cfcer_rgb" in logs and "loss/ce_rgb" not in logs
    adapter.set_stage("unimodal")
    logs = adapter(b)
    assert "loss/distill_rgb" in logs and "loss/ce_cfcer_rgb" not in logs


def test_umdr_defaults_are_the_release_settings():
    p = UMDRParams()
    assert (p.topk, p.scc_depth, p.tcc_depth, p.branch_weight, p.distill_weight) == (0.7, 2, 4, 0.5, 0.2)
    assert (p.distill_temperature, p.temp_start, p.temp_end) == (0.6, 0.04, 0.07)
    assert (p.shufflemix_prob, p.shufflemix_alpha, p.mixup_alpha, p.smoothing) == (0.2, 0.3, 0.8, 0.1)


def test_shufflemix_takes_frames_from_the_reversed_batch_with_smoothed_targets():
    v = torch.arange(3 * 8, dtype=torch.float32).reshape(3, 1, 8, 1, 1)
    mixed = shufflemix(v, 0.75, torch.Generator().manual_seed(0))
    changed = mixed[0, 0, :, 0, 0] != v[0, 0, :, 0, 0]
    assert int(changed.sum()) == 2  # round(0.25 * 8)
    assert torch.equal(mixed[0, 0, changed, 0, 0], v[2, 0, changed, 0, 0])
    t = smooth_one_hot(torch.tensor([1]), 4, 0.1)
    assert torch.allclose(t, torch.tensor([[0.025, 0.925, 0.025, 0.025]]))
    label = torch.tensor([0, 1, 2])
    p = UMDRParams(shufflemix_prob=1.0)
    _, target, lam, used = mix_batch(v, label, 4, p, np.random.default_rng(0))
    expected = lam * smooth_one_hot(label, 4, 0.1) + (1 - lam) * smooth_one_hot(label.flip(0), 4, 0.1)
    assert used and torch.allclose(target, expected)
    mixed, _, lam, used = mix_batch(v, label, 4, UMDRParams(shufflemix_prob=0.0), np.random.default_rng(0))
    assert not used and torch.allclose(mixed, lam * v + (1 - lam) * v.flip(0))


def test_uniform_sampling_and_distillation_target():
    assert uniform_sampling(8, 4, None) == [0, 2, 4, 6]
    assert uniform_sampling(8, 12, None) == [0, 0, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7]
    rand = uniform_sampling(8, 4, np.random.default_rng(0))
    assert all(2 * i <= j <= 2 * i + 1 for i, j in enumerate(rand))
    distill = [torch.zeros(2, 3)]
    cls = [[torch.tensor([[0.6, 0.0, 0.0]] * 2)], [torch.tensor([[0.0, 0.0, 0.0]] * 2)]]
    target = torch.softmax(torch.tensor([1.0, 0.0, 0.0]), -1)  # (0.6 + 0) / 0.6
    expected = float(-(target * torch.log(torch.full((3,), 1 / 3))).sum())
    assert abs(float(rcm_distillation(distill, cls, 0.6)) - expected) < 1e-6


# ------------------------------------------------------------------ IntegralAction
def test_integral_default_regulariser_weight_is_the_releases():
    assert IntegralParams().gate_reg == 1.5
    adapter = make("integral")
    assert adapter.params.gate_reg == 1.5
    logs = adapter(batch())
    g_loss = float(logs["loss/gate_reg"])
    expected = float(logs["loss/ce_fused"] + 1.5 * g_loss + logs["loss/ce_rgb"] + logs["loss/ce_pose"])
    assert abs(float(logs["loss"]) - expected) < 1e-5  # stage "all": aux_weight 1


def test_integral_gate_is_per_frame_from_pose_and_fused_stage_trains_the_aggregator_only():
    adapter = make("integral").eval()
    b = batch()
    feats = adapter._features(b)
    assert feats["gate"].shape == (6, 4, adapter.params.agg_dim)
    agg = adapter.aggregator
    v, p = feats["rgb"].reshape(24, -1), feats["pose"].reshape(24, -1)
    g = torch.sigmoid(agg.gate_fc(p))
    expected = (1 - g) * agg.rgb_norm(agg.rgb_proj(v)) + g * agg.pose_norm(agg.pose_proj(p))
    assert torch.allclose(feats["fused"].reshape(24, -1), expected, atol=1e-6)
    other = adapter._features(dict(b, rgb=torch.rand_like(b["rgb"])))
    assert torch.equal(other["gate"], feats["gate"]), "the gate comes from pose alone"
    clip = adapter.predict(b)["fused"]
    assert torch.allclose(clip, adapter.fused_head(feats["fused"]).mean(1), atol=1e-6)
    adapter.set_stage("fused")
    trainable = {n.split(".")[0] for n, p in adapter.named_parameters() if p.requires_grad}
    assert trainable == {"aggregator", "fused_head"}
    logs = adapter.train()(b)
    assert abs(float(logs["loss"]) - float(logs["loss/ce_fused"] + 1.5 * logs["loss/gate_reg"])) < 1e-5
    adapter.set_stage("pose")
    assert {n.split(".")[0] for n, p in adapter.named_parameters() if p.requires_grad} == {"pose_tower", "pose_head"}


# ------------------------------------------------------------------ MMCL
def test_mmcl_frm_reweights_logits_on_a_hand_built_case():
    frm = FeatureRefinement(text_dim=3, num_classes=2, hidden=4)
    z = torch.tensor([[2.0, -1.0], [1.0, 1.0]])
    text = torch.tensor([[1.0, 3.0, 2.0], [1.0, 4.0, 2.0]])
    assert torch.allclose(frm(z, text), z), "w_pos = w_neg = 1 at init: z' = z"
    with torch.no_grad():
        frm.mlp[0].weight.zero_()
        frm.mlp[0].bias.zero_()
        frm.mlp[0].weight[0, 1] = 1.0  # hidden unit 0 = the answer token
        frm.mlp[2].weight.zero_()
        frm.mlp[2].bias.zero_()
        frm.mlp[2].weight[0, 0] = math.log(3.0)  # logit_pos = answer * ln 3, logit_neg = 0
        frm.pos.copy_(torch.tensor([2.0, 1.0]))
        frm.neg.copy_(torch.tensor([0.0, 3.0]))
    out = frm(z, text)
    for i, answer in enumerate((3.0, 4.0)):
        p_pos = 3.0**answer / (3.0**answer + 1.0)
        w = p_pos * torch.tensor([2.0, 1.0]) + (1 - p_pos) * torch.tensor([0.0, 3.0])
        assert torch.allclose(out[i], z[i] * w, atol=1e-5)


def test_mmcl_defaults_and_losses_follow_the_authors(tmp_path):
    p = MMCLParams(text_features="x")
    assert (p.align_weight, p.text_weight, p.temperature, p.text_dim) == (0.1, 0.2, 0.4, 3)
    adapter = make("mmcl", text_features="unused")
    b = dict(batch(), text=torch.tensor([[1.0, 3.0, 2.0]] * 6))
    logs = adapter(b)
    expected = logs["loss/ce_pose"] + 0.2 * logs["loss/text"] + 0.1 * logs["loss/align"]
    assert abs(float(logs["loss"]) - float(expected)) < 1e-5
    assert "loss/ce_rgb" not in logs, "the RGB network learns through the alignment alone"
    with pytest.raises(ValueError, match=r"batch\['text'\]"):
        adapter({k: v for k, v in b.items() if k != "text"})
    with pytest.raises(ValueError, match="text_dim=3"):
        adapter(dict(b, text=torch.zeros(6, 4)))
    emb = np.eye(K, 8, dtype=np.float32)
    np.save(tmp_path / "text.npy", emb)
    proto = make("mmcl", guide="text", text_mode="prototype", text_embeddings=str(tmp_path / "text.npy"))
    assert "loss/text" in proto({"views": b["views"], "label": b["label"]})
    np.save(tmp_path / "bad.npy", np.zeros((K + 1, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"bad.npy.*num_classes=5"):
        make("mmcl", guide="text", text_mode="prototype", text_embeddings=str(tmp_path / "bad.npy"))


# ------------------------------------------------------------------ parity with the authors' modules
def test_parity_with_the_authors_modules_where_importable():
    import importlib.util
    from pathlib import Path

    from conftest import reference_checkouts

    ref = reference_checkouts()
    if ref is None:
        pytest.skip("set SSL_SKEL_REF to the folder holding the authors' checkouts")
    if not (ref / "Multimodal-Action-Recognition").is_dir():
        pytest.skip(f"authors' checkouts not found under {ref} ($SSL_SKEL_REF)")
    spec = importlib.util.spec_from_file_location("fusion_parity", Path("benchmarks/fusion_parity.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--ref", str(ref), "--adapters", "epam", "integral", "mmcl"])
    measured = [r for r in rows if r["max_abs_diff"] is not None]
    assert {r["adapter"] for r in measured} == {"epam", "integral", "mmcl"}, rows
    assert all(r["max_abs_diff"] < 1e-4 for r in measured), rows
