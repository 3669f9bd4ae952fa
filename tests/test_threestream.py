"""Three-stream SkeletonCLR: independent per-stream branches, summed loss, own queues."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_skel.core.config import ConfigError
from ssl_skel.models.encoders import InputSpec, build_encoder
from ssl_skel.objectives import build_method
from ssl_skel.objectives.skeletonclr import SkeletonCLR
from ssl_skel.objectives.threestream import ThreeStreamCLR, ThreeStreamParams

SPEC = InputSpec("ntu25", 3, 2, 8)
BACKBONE = {"base_channels": 4, "out_channels": 8, "num_layers": 3, "dropout": 0.0}
STREAMS = ("joint", "bone", "motion")


def make(seed: int = 0, **params) -> ThreeStreamCLR:
    torch.manual_seed(seed)
    enc = build_encoder("multistream", {"backbone_params": BACKBONE}, SPEC)
    return build_method("threestream", {"queue_size": 8, "proj_dim": 4, "momentum": 0.9, **params}, enc)


def batch(n: int = 4, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "views": [torch.randn(n, 3, 8, 25, 2, generator=g) for _ in range(2)],
        "label": torch.zeros(n, dtype=torch.long),
        "index": torch.arange(n),
    }


def test_returns_each_stream_term_and_their_sum():
    method = make()
    out = method(batch())
    terms = [out[f"loss/{s}"] for s in STREAMS]
    assert out["loss"].item() == pytest.approx(sum(t.item() for t in terms), rel=1e-6)
    assert out["loss"].requires_grad and not any(t.requires_grad for t in terms)
    stds = [out[f"stat/embed_std_{s}"].item() for s in STREAMS]
    assert out["stat/embed_std"].item() == pytest.approx(np.mean(stds), rel=1e-6)


def test_each_stream_equals_a_single_stream_skeletonclr():
    """Same weights and queue: the bone term equals SkeletonCLR on the bone backbone."""
    method = make()
    b = batch(seed=3)
    single = SkeletonCLR(method.encoder.stream_encoder("bone"), method.branches["bone"].params)
    single.branch.load_state_dict(method.branches["bone"].state_dict())
    method.eval()  # BN on running statistics, so both see identical normalisation
    single.eval()
    expected = single(b)["loss"].item()
    got = method(b)["loss/bone"].item()
    assert got == pytest.approx(expected, rel=1e-6)


def test_branches_have_their_own_momentum_backbone_and_queue():
    method = make()
    enc = method.encoder
    for s in STREAMS:
        branch = method.branches[s]
        assert branch.modality == s
        assert type(branch.momentum_backbone) is type(enc.stream_encoder(s))
        assert branch.momentum_backbone.stream == s
    state = method.state_dict()
    for s in STREAMS:
        assert f"branches.{s}.criterion.memory_bank.bank" in state
    assert not any(k.startswith("branches.joint.momentum_backbone.streams") for k in state)
    method(batch())
    assert [method.branches[s].queue_ptr for s in STREAMS] == [4, 4, 4]
    queues = [method.branches[s].queue[:4] for s in STREAMS]
    assert not torch.allclose(queues[0], queues[1]) and not torch.allclose(queues[1], queues[2])


def test_gradients_reach_every_stream_and_momentum_follows_each():
    method = make()
    opt = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.1)
    method(batch())["loss"].backward()
    for s in STREAMS:
        assert all(p.grad is not None for p in method.encoder.stream_encoder(s).parameters())
        assert all(p.grad is None for p in method.branches[s].momentum_backbone.parameters())
    before = {s: [p.clone() for p in method.branches[s].momentum_backbone.parameters()] for s in STREAMS}
    opt.step()
    method.on_step_end(0, 10)
    for s in STREAMS:
        online = method.encoder.stream_encoder(s).parameters()
        for p, pm, old in zip(online, method.branches[s].momentum_backbone.parameters(), before[s]):
            torch.testing.assert_close(pm, 0.9 * old + 0.1 * p)


def test_needs_a_multistream_encoder():
    enc = build_encoder("stgcn", BACKBONE, SPEC)
    with pytest.raises(ConfigError, match="needs model.name: multistream"):
        build_method("threestream", {}, enc)


def test_params_share_skeletonclr_checks():
    with pytest.raises(ConfigError, match="temperature must be > 0"):
        build_method("threestream", {"temperature": 0.0}, make().encoder)
    p = ThreeStreamParams()
    assert (p.queue_size, p.momentum, p.temperature, p.proj_dim) == (32768, 0.999, 0.07, 128)


def test_needs_two_views():
    b = batch()
    b["views"] = b["views"][:1]
    with pytest.raises(ValueError, match="threestream needs 2 views"):
        make()(b)
