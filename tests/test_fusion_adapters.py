"""Fusion adapters on in-memory tensors: shapes, gradient flow, stages, the pose gate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ssl_skel.core.config import ConfigError
from ssl_skel.fusion import ADAPTERS, build_adapter
from ssl_skel.fusion.blocks import FrameCNN, TemporalShift
from ssl_skel.fusion.rgbd import RGBDSpec
from ssl_skel.fusion.umdr import shufflemix
from ssl_skel.models.encoders import build_encoder
from ssl_skel.models.encoders.base import InputSpec

SPEC = InputSpec(layout="ntu25", in_channels=3, num_persons=2, clip_length=16)
RGBD = RGBDSpec(num_frames=4, size=16, use_rgb=True, use_depth=True)
K = 5
ENC = {"base_channels": 4, "out_channels": 16, "num_layers": 2, "dropout": 0.0}


def encoder():
    torch.manual_seed(0)
    return build_encoder("stgcn", ENC, SPEC)


def batch(n: int = 6) -> dict:
    g = torch.Generator().manual_seed(1)
    return {
        "views": [torch.randn(n, 3, 16, 25, 2, generator=g)],
        "rgb": torch.rand(n, 3, 4, 16, 16, generator=g),
        "depth": torch.rand(n, 1, 4, 16, 16, generator=g),
        "label": torch.arange(n) % K,
        "index": torch.arange(n),
    }


def make(name: str, freeze: bool = False, **params):
    return build_adapter(name, params, encoder(), K, RGBD, freeze_encoder=freeze)


EXPECTED_STREAMS = {
    "umdr": {"fused", "rgb", "depth", "pose"},
    "integral": {"fused", "rgb", "pose"},
    "epam": {"fused", "rgb", "pose"},
    "mmcl": {"fused", "pose", "rgb"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED_STREAMS))
def test_shapes_and_gradient_flow(name):
    params = {"guide": "rgb"} if name == "mmcl" else {}
    adapter = make(name, **params)
    out = adapter(batch())
    assert out["loss"].dim() == 0 and torch.isfinite(out["loss"])
    assert all(v.numel() == 1 for v in out.values())
    out["loss"].backward()
    enc_grads = [p.grad for p in adapter.encoder.parameters() if p.requires_grad]
    assert enc_grads and all(g is not None for g in enc_grads), "fine-tuned skeleton branch gets gradients"
    video = [p for n, p in adapter.named_parameters() if "tower" in n]
    assert video and all(p.grad is not None and p.grad.abs().sum() > 0 for p in video[:1])
    adapter.eval()
    scores = adapter.predict(batch())
    assert set(scores) == EXPECTED_STREAMS[name]
    assert all(s.shape == (6, K) for s in scores.values())


@pytest.mark.parametrize("name", sorted(EXPECTED_STREAMS))
def test_frozen_skeleton_branch_stays_in_eval_without_gradients(name):
    params = {"guide": "rgb"} if name == "mmcl" else {}
    adapter = make(name, freeze=True, **params)
    before = {k: v.clone() for k, v in adapter.encoder.state_dict().items()}
    adapter.train()
    assert not adapter.encoder.training and adapter.training
    adapter(batch())["loss"].backward()
    assert all(p.grad is None and not p.requires_grad for p in adapter.encoder.parameters())
    after = adapter.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "BatchNorm statistics must not move"


def test_mmcl_runs_with_the_skeleton_alone_at_test():
    adapter = make("mmcl", guide="rgb")
    adapter.eval()
    b = batch()
    scores = adapter.predict({"views": b["views"]})  # no rgb, no text, no label
    assert set(scores) == {"fused", "pose"} and scores["fused"].shape == (6, K)
    with_rgb = adapter.predict(b)
    assert torch.allclose(with_rgb["fused"], scores["fused"]), "the test answer never depends on the extra modality"
    with pytest.raises(ValueError, match="rgb"):
        adapter.train()(  # training does need the guide
            {"views": b["views"], "label": b["label"]}
        )


def test_mmcl_text_guide_uses_class_embeddings(tmp_path):
    emb = np.eye(K, 8, dtype=np.float32)
    np.save(tmp_path / "text.npy", emb)
    adapter = make("mmcl", guide="text", text_embeddings=str(tmp_path / "text.npy"))
    out = adapter({"views": batch()["views"], "label": batch()["label"]})
    assert {"loss/text", "loss/ce_pose"} <= set(out) and "loss/align" not in out
    assert torch.equal(adapter.text, torch.from_numpy(emb))
    np.save(tmp_path / "bad.npy", np.zeros((K + 1, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"bad.npy.*num_classes=5"):
        make("mmcl", guide="text", text_embeddings=str(tmp_path / "bad.npy"))
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        make("mmcl", guide="text", text_embeddings=str(tmp_path / "missing.npy"))
    with pytest.raises(ConfigError, match="text_embeddings"):
        make("mmcl", guide="both")


def test_temporal_shift_moves_channel_folds_by_one_frame():
    x = torch.arange(16 * 3, dtype=torch.float32).reshape(1, 16, 3, 1, 1)  # (N, C, F, H, W)
    y = TemporalShift(fold=8)(x)
    # channels 0-1 come from the next frame, 2-3 from the previous one, the rest stay
    assert torch.equal(y[0, 0, :, 0, 0], torch.tensor([1.0, 2.0, 0.0]))
    assert torch.equal(y[0, 2, :, 0, 0], torch.tensor([0.0, 6.0, 7.0]))
    assert torch.equal(y[0, 5], x[0, 5])
    assert FrameCNN(3, (4, 8), shift=True)(torch.rand(2, 3, 4, 16, 16)).shape == (2, 8, 4, 4, 4)


def test_shufflemix_replaces_the_same_frames_in_every_modality():
    a = torch.arange(2 * 1 * 4, dtype=torch.float32).reshape(2, 1, 4, 1, 1)
    b = -a
    (ma, mb), lam = shufflemix([a, b], 0.5, torch.tensor([1, 0]), torch.Generator().manual_seed(0))
    assert lam == 0.5
    swapped = ma[0, 0, :, 0, 0] != a[0, 0, :, 0, 0]
    assert int(swapped.sum()) == 2
    assert torch.equal(ma[0, 0, swapped, 0, 0], a[1, 0, swapped, 0, 0])
    assert torch.equal(mb[0, 0, swapped, 0, 0], b[1, 0, swapped, 0, 0])


def test_umdr_shufflemix_training_step_and_depth_only():
    adapter = make("umdr", shufflemix_prob=1.0)
    torch.manual_seed(3)
    out = adapter.train()(batch())
    assert 0.0 <= float(out["stat/shufflemix_lambda"]) <= 1.0
    depth_only = build_adapter(
        "umdr",
        {"use_skeleton": False},
        encoder(),
        K,
        RGBDSpec(4, 16, use_rgb=False, use_depth=True),
        freeze_encoder=True,
    )
    assert set(depth_only.eval().predict(batch())) == {"fused", "depth"}
    with pytest.raises(ValueError, match="RGB or depth"):
        build_adapter("umdr", {}, encoder(), K, RGBDSpec(4, 16, False, False))


def test_epam_late_fusion_is_the_weighted_mean_of_probabilities():
    adapter = make("epam", fusion_weight=0.25)
    rgb, pose = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    expected = 0.25 * F.softmax(rgb, -1) + 0.75 * F.softmax(pose, -1)
    assert torch.allclose(adapter.late_fusion(rgb, pose).exp(), expected, atol=1e-6)
    # attention starts uniform: the pooled feature is the mean of the feature maps
    maps, p = torch.rand(2, adapter.rgb_tower.dim, 3, 2, 2), torch.rand(2, adapter.encoder.dim)
    pooled, spatial, temporal = adapter.attention(maps, p)
    assert torch.allclose(pooled, maps.mean((2, 3, 4)), atol=1e-6)
    assert torch.allclose(temporal, torch.full((2, 3), 1 / 3))


def test_integral_stages_train_only_their_stream():
    adapter = make("integral")
    adapter.set_stage("rgb")
    out = adapter(batch())
    assert set(out) == {"loss", "loss/ce_rgb", "stat/embed_std"}
    trainable = {n.split(".")[0] for n, p in adapter.named_parameters() if p.requires_grad}
    assert trainable == {"rgb_tower", "rgb_head"}
    adapter.set_stage("pose")
    assert {n.split(".")[0] for n, p in adapter.named_parameters() if p.requires_grad} == {"encoder", "pose_head"}
    assert set(adapter.eval().predict({"views": batch()["views"]})) == {"pose", "fused"}
    adapter.set_stage("fused")
    assert all(p.requires_grad for p in adapter.parameters())
    with pytest.raises(ValueError, match="stages"):
        adapter.set_stage("depth")


def test_integral_gate_formula():
    adapter = make("integral")
    f_rgb, f_pose = torch.rand(3, adapter.rgb_tower.dim), torch.rand(3, adapter.encoder.dim)
    gate, fused = adapter.integrate(f_rgb, f_pose)
    g = torch.sigmoid(adapter.gate_fc(f_pose))
    expected = (1 - g) * adapter.rgb_norm(adapter.rgb_proj(f_rgb)) + g * adapter.pose_norm(adapter.pose_proj(f_pose))
    assert torch.allclose(gate, g) and torch.allclose(fused, expected)


def _constructed_data(corrupt: bool, n: int = 60, seed: int = 0):
    """Pose and RGB both tell the class (fixed prototypes); `corrupt` replaces the RGB by
    fresh noise, so the RGB stream carries nothing a model could memorise."""
    protos = torch.Generator().manual_seed(0)
    pose_proto, colours = torch.randn(K, 3, 1, 25, 1, generator=protos), torch.rand(K, 3, generator=protos)
    g = torch.Generator().manual_seed(1000 + seed)
    label = torch.arange(n) % K
    views = pose_proto[label].expand(n, 3, 16, 25, 2) + 0.3 * torch.randn(n, 3, 16, 25, 2, generator=g)
    rgb = colours[label][:, :, None, None, None].expand(n, 3, 4, 16, 16).clone()
    rgb += 0.05 * torch.randn(rgb.shape, generator=g)
    if corrupt:
        rgb = torch.rand(rgb.shape, generator=g)
    return {"views": [views.contiguous()], "rgb": rgb, "label": label, "index": torch.arange(n)}


def _train_gate(corrupt: bool, steps: int = 40) -> float:
    torch.manual_seed(0)
    adapter = build_adapter("integral", {"gate_reg": 0.0}, encoder(), K, RGBD, freeze_encoder=False)
    adapter.set_stage("fused")
    opt = torch.optim.Adam([p for p in adapter.parameters() if p.requires_grad], lr=3e-3)
    adapter.train()
    for step in range(steps):
        opt.zero_grad()
        adapter(_constructed_data(corrupt, seed=step))["loss"].backward()
        opt.step()
    adapter.eval()
    with torch.no_grad():
        return float(adapter.extra_stats(_constructed_data(corrupt, seed=-1))["pose_gate"].mean())


def test_pose_gate_moves_toward_pose_when_rgb_is_corrupted():
    clean, corrupted = _train_gate(False), _train_gate(True)
    assert corrupted > clean + 0.15, (clean, corrupted)
    assert corrupted > 0.5


def test_registry_and_params_errors():
    assert ADAPTERS.names() == ["epam", "integral", "mmcl", "umdr"]
    with pytest.raises(ConfigError, match="params.nope"):
        make("epam", nope=1)
    with pytest.raises(ConfigError, match="fusion_weight"):
        make("epam", fusion_weight=2.0)
    with pytest.raises(ConfigError, match="unknown fusion adapter 'x'"):
        make("x")
    with pytest.raises(ValueError, match=r"batch\['rgb'\]"):
        make("epam")({"views": batch()["views"], "label": batch()["label"]})
