"""ST-GCN and multistream encoders: graph partition, shapes, gradients, streams, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_skel.core.config import ConfigError
from ssl_skel.data.layouts import LAYOUTS, get_layout
from ssl_skel.data.modalities import bone, motion
from ssl_skel.models.encoders import InputSpec, build_encoder
from ssl_skel.models.encoders.multistream import MultiStreamEncoder
from ssl_skel.models.encoders.stgcn import (
    STGCN,
    STGCNParams,
    channel_schedule,
    hop_distance,
    partition_adjacency,
    root_joint,
)

TINY = {"base_channels": 4, "out_channels": 8, "num_layers": 3, "dropout": 0.0}


def tiny(spec: InputSpec, **overrides) -> STGCN:
    return build_encoder("stgcn", {**TINY, **overrides}, spec)


# --------------------------------------------------------------------------- graph
def test_hop_distance_and_root_on_ntu():
    ntu = get_layout("ntu25")
    hops = hop_distance(ntu)
    assert root_joint(ntu) == 20  # spine_shoulder, ST-GCN's NTU centre
    assert hops[3, 20] == 2  # head -> neck -> spine_shoulder
    assert hops[7, 11] == 8  # l. hand, wrist, elbow, shoulder, spine_shoulder, r. shoulder, elbow, wrist, hand
    assert hops[15, 19] == 8  # l. foot, ankle, knee, hip, spine_base, r. hip, knee, ankle, foot
    np.testing.assert_array_equal(hops, hops.T)


def test_spatial_partition_hand_values_on_ntu():
    a = partition_adjacency(get_layout("ntu25"), "spatial")
    assert a.shape == (3, 25, 25)
    # spine_shoulder (20) has neighbours 1, 2, 4, 8 and itself: degree 5
    assert a[0, 20, 20] == pytest.approx(1 / 5)
    assert a[1, :, 20].sum() == 0  # nothing is closer to the centre than the centre
    assert a[2, 4, 20] == pytest.approx(1 / 5)  # left_shoulder flows outward into the centre
    # left_shoulder (4): neighbours 20 (closer to the centre) and 5 (farther), degree 3
    assert a[0, 4, 4] == pytest.approx(1 / 3)
    assert a[1, 20, 4] == pytest.approx(1 / 3)
    assert a[2, 5, 4] == pytest.approx(1 / 3)
    assert a[1, 5, 4] == 0 and a[2, 20, 4] == 0
    # every output joint averages its neighbourhood: columns sum to 1 over partitions
    np.testing.assert_allclose(a.sum(axis=(0, 1)), np.ones(25), rtol=1e-6)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("strategy,parts", [("uniform", 1), ("distance", 2), ("spatial", 3)])
def test_partitions_on_every_layout(layout, strategy, parts):
    skel = get_layout(layout)
    a = partition_adjacency(skel, strategy)
    v = skel.num_joints
    assert a.shape == (parts, v, v)
    np.testing.assert_allclose(a.sum(axis=(0, 1)), np.ones(v), rtol=1e-6)
    support = (a.sum(axis=0) > 0).astype(np.float32)
    np.testing.assert_array_equal(support, skel.adjacency() + np.eye(v, dtype=np.float32))


def test_unknown_partition():
    with pytest.raises(ValueError, match="unknown graph partition 'random'"):
        partition_adjacency(get_layout("ntu25"), "random")


def test_channel_schedule_matches_skeletonclr_stgcn():
    assert channel_schedule(STGCNParams()) == [
        (16, 1),
        (16, 1),
        (16, 1),
        (16, 1),
        (32, 2),
        (32, 1),
        (32, 1),
        (64, 2),
        (64, 1),
        (256, 1),
    ]
    assert channel_schedule(STGCNParams(base_channels=4, out_channels=8, num_layers=3)) == [(4, 1), (8, 2), (8, 2)]


# --------------------------------------------------------------------------- encoder
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("channels,persons", [(3, 2), (2, 1)])
def test_shapes_and_gradients_on_every_layout(layout, channels, persons):
    torch.manual_seed(0)
    v = get_layout(layout).num_joints
    enc = tiny(InputSpec(layout, channels, persons, 12), stream="joint")
    x = torch.randn(3, channels, 12, v, persons)
    out = enc(x)
    assert out.shape == (3, 8) and enc.dim == 8 and enc.modalities == ("joint",)
    (out**2).sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, f"no gradient reaches {name}"


def test_default_size_matches_reference_order_of_magnitude():
    enc = build_encoder("stgcn", {}, InputSpec("ntu25", 3, 2, 64))
    # 1/4-width ST-GCN of SkeletonCLR: about 0.8M parameters, 256-d features
    assert enc.dim == 256
    assert 0.7e6 < enc.num_parameters() < 0.9e6
    assert enc.num_parameters() == sum(p.numel() for p in enc.parameters())


def test_flops_per_clip_grows_with_clip_length():
    short = tiny(InputSpec("ntu25", 3, 2, 8))
    long = tiny(InputSpec("ntu25", 3, 2, 16))
    long.load_state_dict(short.state_dict())
    assert short.flops_per_clip() > 0
    assert long.flops_per_clip() == pytest.approx(2 * short.flops_per_clip(), rel=0.05)


@pytest.mark.parametrize("stream", ["bone", "motion", "bone_motion"])
def test_streams_are_derived_inside_the_encoder(stream):
    torch.manual_seed(1)
    spec = InputSpec("ntu25", 3, 2, 10)
    joint = tiny(spec, stream="joint").eval()
    other = tiny(spec, stream=stream).eval()
    other.load_state_dict(joint.state_dict())  # same weights, different stream
    x = torch.randn(2, 3, 10, 25, 2)
    ntu = get_layout("ntu25")
    derived = {"bone": bone(x, ntu), "motion": motion(x), "bone_motion": motion(bone(x, ntu))}[stream]
    with torch.no_grad():
        assert not torch.allclose(other(x), joint(x), atol=1e-4)
        torch.testing.assert_close(other(x), joint(derived))
    assert other.modalities == (stream,)


def test_persons_are_averaged_after_pooling():
    torch.manual_seed(2)
    two = tiny(InputSpec("kinect20", 3, 2, 8)).eval()
    one = tiny(InputSpec("kinect20", 3, 1, 8)).eval()
    one.load_state_dict(two.state_dict())
    x = torch.randn(2, 3, 8, 20, 2)
    with torch.no_grad():
        expected = (one(x[..., :1]) + one(x[..., 1:])) / 2
        torch.testing.assert_close(two(x), expected)


def test_bad_inputs_name_the_expected_shape():
    enc = tiny(InputSpec("ntu25", 3, 2, 8))
    with pytest.raises(ValueError, match="5-d tensor"):
        enc(torch.randn(2, 3, 8, 25))
    with pytest.raises(ValueError, match="C=3 channels, V=25 joints"):
        enc(torch.randn(2, 2, 8, 25, 2))
    with pytest.raises(ValueError, match="V=17"):
        enc(torch.randn(2, 3, 8, 17, 2))
    with pytest.raises(ValueError, match="offers modalities"):
        enc(torch.randn(2, 3, 8, 25, 2), modality="bone")


@pytest.mark.parametrize(
    "params,key",
    [
        ({"stream": "velocity"}, "model.params.stream"),
        ({"temporal_kernel": 4}, "temporal_kernel must be odd"),
        ({"dropout": 1.0}, "dropout"),
        ({"base_channel": 8}, "model.params.base_channel"),
        ({"partition": "random"}, "model.params.partition"),
    ],
)
def test_bad_params_name_the_key(params, key):
    with pytest.raises(ConfigError, match=key):
        build_encoder("stgcn", params, InputSpec("ntu25", 3, 2, 8))


# --------------------------------------------------------------------------- multistream
def multistream(streams=("joint", "bone", "motion"), layout="ntu25") -> MultiStreamEncoder:
    spec = InputSpec(layout, 3, 2, 8)
    return build_encoder("multistream", {"backbone_params": TINY, "streams": list(streams)}, spec)


def test_multistream_fused_is_the_mean_of_its_streams():
    torch.manual_seed(3)
    enc = multistream().eval()
    assert enc.modalities == ("fused", "joint", "bone", "motion") and enc.dim == 8
    x = torch.randn(2, 3, 8, 25, 2)
    with torch.no_grad():
        out = enc.forward_modalities(x, ["bone", "fused", "joint", "motion"])
        assert list(out) == ["bone", "fused", "joint", "motion"]
        for s in ("joint", "bone", "motion"):
            assert enc.stream_encoder(s).stream == s
            torch.testing.assert_close(out[s], enc.stream_encoder(s)(x))
        torch.testing.assert_close(out["fused"], (out["joint"] + out["bone"] + out["motion"]) / 3)
        torch.testing.assert_close(enc(x), out["fused"])  # fused is the default
        assert not torch.allclose(out["joint"], out["bone"])


def test_multistream_streams_learn_independently():
    enc = multistream(("joint", "motion"), layout="coco17")
    x = torch.randn(2, 3, 8, 17, 2)
    enc(x, "motion").sum().backward()
    assert all(p.grad is None for p in enc.stream_encoder("joint").parameters())
    assert all(p.grad is not None for p in enc.stream_encoder("motion").parameters())


def test_multistream_flops_are_the_sum_of_its_streams():
    enc = multistream()
    per_stream = [enc.stream_encoder(s).flops_per_clip() for s in ("joint", "bone", "motion")]
    assert enc.flops_per_clip(["fused"]) == sum(per_stream)
    assert enc.flops_per_clip(["bone"]) == per_stream[1]


@pytest.mark.parametrize(
    "params,message",
    [
        ({"streams": ["joint", "joint"]}, "repeat a name"),
        ({"streams": ["joint", "velocity"]}, "unknown streams"),
        ({"streams": []}, "at least one stream"),
        ({"backbone_params": {"stream": "bone"}}, "must not set `stream`"),
        ({"backbone": "nope"}, "unknown encoder 'nope'"),
        ({"backbone": "multistream"}, "cannot nest"),
        ({"backbone_params": {"layers": 3}}, "model.params.backbone_params.layers"),
    ],
)
def test_multistream_bad_params(params, message):
    with pytest.raises(ConfigError, match=message):
        build_encoder("multistream", params, InputSpec("ntu25", 3, 2, 8))


def test_multistream_unknown_stream_lookup():
    with pytest.raises(ValueError, match="no stream 'bone_motion'"):
        multistream().stream_encoder("bone_motion")


# --------------------------------------------------------------------------- CTR-GCN
CTR_TINY = {"base_channels": 8, "out_channels": 16, "num_layers": 3}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("channels,persons", [(3, 2), (2, 1)])
def test_ctrgcn_shapes_and_gradients_on_every_layout(layout, channels, persons):
    torch.manual_seed(0)
    v = get_layout(layout).num_joints
    enc = build_encoder("ctrgcn", CTR_TINY, InputSpec(layout, channels, persons, 12))
    x = torch.randn(3, channels, 12, v, persons)
    (enc(x) ** 2).sum().backward()
    alphas = [m.alpha for m in enc.modules() if hasattr(m, "alpha")]
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in alphas)  # alpha learns from step 0
    # alpha = 0 at init gates the refinement convs (as in the paper): open it to check they learn
    enc.zero_grad()
    with torch.no_grad():
        for m in enc.modules():
            if hasattr(m, "alpha"):
                m.alpha.fill_(0.5)
                m.bn.weight.fill_(1.0)
    out = enc(x)
    assert out.shape == (3, 16) and enc.modalities == ("joint",)
    (out**2).sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {name}"


def test_ctrgcn_default_size_matches_the_paper():
    enc = build_encoder("ctrgcn", {}, InputSpec("ntu25", 3, 2, 64))
    # paper: 1.46M parameters (with a 60-way classifier), 1.97 GMACs per clip at T = 64
    assert enc.dim == 256
    assert 1.38e6 < enc.num_parameters() < 1.46e6
    # ours runs phi and psi on the clip's time mean (a 1x1 conv commutes with it), the paper's code on every
    # frame and then averages: add back what that saves, 2 FLOPs x K partitions x 2 convs x R x C_in x V x M
    # per frame beyond the first, block by block (C_in, R, input frames)
    blocks = [(3, 8, 64)] + [(64, 8, 64)] * 4 + [(128, 16, 32)] * 3 + [(256, 32, 16)] * 2
    saved = sum(2 * 3 * 2 * r * c * 25 * 2 * (t - 1) for c, r, t in blocks)
    assert 3.7e9 < enc.flops_per_clip() + saved < 4.1e9  # FLOPs = 2 x MACs


def test_ctrgcn_topology_starts_at_the_graph_and_streams_are_derived():
    torch.manual_seed(4)
    spec = InputSpec("kinect20", 3, 2, 8)
    joint = build_encoder("ctrgcn", CTR_TINY, spec).eval()
    adjacency = torch.from_numpy(partition_adjacency(get_layout("kinect20"), "spatial"))
    torch.testing.assert_close(joint.blocks[0].gcn.topology.data, adjacency.transpose(1, 2))
    bone_enc = build_encoder("ctrgcn", {**CTR_TINY, "stream": "bone"}, spec).eval()
    bone_enc.load_state_dict(joint.state_dict())
    x = torch.randn(2, 3, 8, 20, 2)
    with torch.no_grad():
        torch.testing.assert_close(bone_enc(x), joint(bone(x, get_layout("kinect20"))))


@pytest.mark.parametrize(
    "params,message",
    [
        ({"base_channels": 10}, "base_channels must be a positive multiple of 4"),
        ({"dilations": [1, 2, 3], "out_channels": 16}, "multiple of 5"),
        ({"dilations": []}, "dilations must be >= 1"),
        ({"temporal_kernel": 6}, "temporal_kernel must be odd"),
        ({"stream": "accel"}, "model.params.stream"),
    ],
)
def test_ctrgcn_bad_params(params, message):
    with pytest.raises(ConfigError, match=message):
        build_encoder("ctrgcn", params, InputSpec("ntu25", 3, 2, 8))


def test_multistream_over_ctrgcn():
    enc = build_encoder(
        "multistream",
        {"backbone": "ctrgcn", "backbone_params": CTR_TINY, "streams": ["joint", "motion"]},
        InputSpec("coco17", 2, 1, 8),
    )
    out = enc.forward_modalities(torch.randn(2, 2, 8, 17, 1), ["fused", "motion"])
    assert out["fused"].shape == out["motion"].shape == (2, 16)
