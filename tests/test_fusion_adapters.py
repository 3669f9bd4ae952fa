"""Fusion adapters on in-memory tensors: shapes, gradient flow, stages, the pose gate."""

from __future__ import annotations

import pytest
import torch

from ssl_skel.core.config import ConfigError
from ssl_skel.fusion import ADAPTERS, build_adapter
from ssl_skel.fusion.blocks import FrameCNN, TemporalShift
from ssl_skel.fusion.rgbd import RGBDSpec
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
    "umdr": {"fused", "rgb", "depth"},
    "integral": {"fused", "rgb", "pose"},
    "epam": {"fused", "rgb", "pose"},
    "mmcl": {"fused", "pose"},
}
# adapters whose pose stream is the toolkit's skeleton encoder with these params
ENCODER_PARAMS = {"umdr": {"use_skeleton": True}, "integral": {"pose_input": "encoder"}, "mmcl": {"guide": "rgb"}}


@pytest.mark.parametrize("name", sorted(EXPECTED_STREAMS))
def test_shapes_and_gradient_flow(name):
    params = {"guide": "rgb"} if name == "mmcl" else {}
    adapter = make(name, **params)
    out = adapter(batch())
    assert out["loss"].dim() == 0 and torch.isfinite(out["loss"])
    assert all(v.numel() == 1 for v in out.values())
    out["loss"].backward()
    video = [p for n, p in adapter.named_parameters() if "tower" in n or n.startswith("nets.")]
    assert video and all(p.grad is not None and p.grad.abs().sum() > 0 for p in video[:1])
    adapter.eval()
    scores = adapter.predict(batch())
    assert set(scores) == EXPECTED_STREAMS[name]
    assert all(s.shape == (6, K) for s in scores.values())


@pytest.mark.parametrize("name", sorted(ENCODER_PARAMS))
def test_fine_tuned_skeleton_encoder_gets_gradients(name):
    adapter = make(name, **ENCODER_PARAMS[name])
    if name == "umdr":
        adapter.set_stage("unimodal")
    adapter(batch())["loss"].backward()
    enc_grads = [p.grad for p in adapter.encoder.parameters() if p.requires_grad]
    assert enc_grads and all(g is not None for g in enc_grads), "fine-tuned skeleton branch gets gradients"


def test_embed_std_is_the_objectives_std_of_l2_normalised_features():
    from lightly.utils.debug import std_of_l2_normalized

    from ssl_skel.fusion.blocks import embed_std
    from ssl_skel.objectives.skeletonclr import embed_std as objective_embed_std

    z = torch.randn(32, 16) * 5 + 1
    assert torch.allclose(embed_std(z), std_of_l2_normalized(z))
    assert torch.allclose(embed_std(z), objective_embed_std(z))
    assert float(embed_std(torch.ones(8, 4))) == 0.0


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


def test_temporal_shift_moves_channel_folds_by_one_frame():
    x = torch.arange(16 * 3, dtype=torch.float32).reshape(1, 16, 3, 1, 1)  # (N, C, F, H, W)
    y = TemporalShift(fold=8)(x)
    # channels 0-1 come from the next frame, 2-3 from the previous one, the rest stay
    assert torch.equal(y[0, 0, :, 0, 0], torch.tensor([1.0, 2.0, 0.0]))
    assert torch.equal(y[0, 2, :, 0, 0], torch.tensor([0.0, 6.0, 7.0]))
    assert torch.equal(y[0, 5], x[0, 5])
    assert FrameCNN(3, (4, 8), shift=True)(torch.rand(2, 3, 4, 16, 16)).shape == (2, 8, 4, 4, 4)


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
    adapter = build_adapter(
        "integral", {"gate_reg": 0.0, "pose_input": "encoder"}, encoder(), K, RGBD, freeze_encoder=False
    )
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
    assert corrupted > clean + 0.08, (clean, corrupted)
    assert corrupted > 0.5


def test_registry_and_params_errors():
    assert ADAPTERS.names() == ["epam", "integral", "mmcl", "umdr"]
    with pytest.raises(ConfigError, match="params.nope"):
        make("epam", nope=1)
    with pytest.raises(ConfigError, match="dropout"):
        make("epam", dropout=2.0)
    with pytest.raises(ConfigError, match="unknown fusion adapter 'x'"):
        make("x")
    with pytest.raises(ValueError, match=r"batch\['rgb'\]"):
        make("epam")({"views": batch()["views"], "label": batch()["label"]})
