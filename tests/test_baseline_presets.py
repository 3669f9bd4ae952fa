"""The SkeletonCLR baseline presets validate and build their encoder and method."""

from __future__ import annotations

import pytest
import torch

from ssl_skel.core.config import load_config
from ssl_skel.models.encoders import build_encoder
from ssl_skel.models.encoders.base import InputSpec
from ssl_skel.objectives import build_method


@pytest.mark.parametrize(
    "preset, encoder, objective, modalities",
    [
        ("ntu60_xsub_skeletonclr", "stgcn", "skeletonclr", ("joint",)),
        ("ntu60_xsub_3s_skeletonclr", "multistream", "threestream", ("fused", "joint", "bone", "motion")),
    ],
)
def test_baseline_preset_builds_and_takes_a_step(preset, encoder, objective, modalities):
    cfg = load_config(preset, ["objective.params.queue_size=16"])
    assert (cfg.model.name, cfg.objective.name) == (encoder, objective)
    assert cfg.data.make_command.endswith("--out data/ntu60 --dataset ntu60")
    spec = InputSpec("ntu25", 3, 2, 8)  # short clips keep the check fast
    model = build_encoder(cfg.model.name, cfg.model.params, spec)
    assert model.modalities == modalities and model.dim == 256
    method = build_method(cfg.objective.name, cfg.objective.params, model)
    views = [torch.randn(4, 3, 8, 25, 2) for _ in range(cfg.data.num_views)]
    out = method({"views": views, "label": torch.zeros(4, dtype=torch.long), "index": torch.arange(4)})
    assert torch.isfinite(out["loss"]) and out["loss"].requires_grad
