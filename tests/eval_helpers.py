"""Helpers for the evaluation tests: tiny encoders and checkpoints in the shared format."""

from __future__ import annotations

from pathlib import Path

import torch

from ssl_skel.core.checkpoint import save_checkpoint
from ssl_skel.models.encoders import build_encoder
from ssl_skel.models.encoders.base import InputSpec

SPEC = InputSpec(layout="ntu25", in_channels=3, num_persons=2, clip_length=16)
TINY = {"hidden_size": 32, "num_heads": 2, "num_layers": 1}


def tiny_encoder(seed: int = 0, spec: InputSpec = SPEC, params: dict | None = None):
    torch.manual_seed(seed)
    return build_encoder("unified", dict(params or TINY), spec)


def encoder_entry(encoder, params: dict | None = None) -> dict:
    s = encoder.spec
    return {
        "name": "unified",
        "params": dict(params or TINY),
        "spec": {
            "layout": s.layout,
            "in_channels": s.in_channels,
            "num_persons": s.num_persons,
            "clip_length": s.clip_length,
        },
        "prefix": "encoder.",
    }


def tiny_config(data_root: str = "data/none", benchmark: str = "xsub", clip_length: int = 16) -> dict:
    return {
        "data": {"root": str(data_root), "benchmark": benchmark, "clip_length": clip_length, "num_workers": 0},
        "model": {"name": "unified", "params": dict(TINY)},
        "objective": {"name": "umurl", "params": {}},
        "eval": {"linear_epochs": 20, "feature_batch_size": 64},
        "seed": 0,
        "run_dir": "",
        "name": "tiny",
    }


def write_checkpoint(
    path: Path, encoder, *, config: dict | None = None, extra_model: dict | None = None, kind: str = "pretrain"
) -> Path:
    """A pretraining-style checkpoint: encoder weights under "encoder." plus a fake queue/head."""
    model = {f"encoder.{k}": v.clone() for k, v in encoder.state_dict().items()}
    model["queue"] = torch.randn(8, 4)
    model.update(extra_model or {})
    payload = {
        "kind": kind,
        "config": config or tiny_config(),
        "encoder": encoder_entry(encoder),
        "model": model,
        "optimizer": {"state": {}, "param_groups": []},
        "scheduler": {},
        "scaler": {},
        "epoch": 1,
        "step": 10,
        "rng": {},
        "metrics": {"loss": 1.0},
    }
    return save_checkpoint(payload, path)


def clips(n: int = 4, seed: int = 1, spec: InputSpec = SPEC) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, spec.in_channels, spec.clip_length, 25, spec.num_persons, generator=g)
