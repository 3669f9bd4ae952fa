"""build_method: the one way a method is built from a config; errors name the key."""

from __future__ import annotations

import pytest
import torch

from ssl_skel.core.config import ConfigError
from ssl_skel.models.encoders import InputSpec, build_encoder
from ssl_skel.objectives import OBJECTIVES, Method, build_method
from ssl_skel.objectives.skeletonclr import SkeletonCLR, SkeletonCLRParams

SPEC = InputSpec("coco17", 2, 1, 8)


@pytest.fixture()
def encoder():
    torch.manual_seed(0)
    return build_encoder("stgcn", {"base_channels": 4, "out_channels": 8, "num_layers": 2}, SPEC)


def test_registered_methods_include_the_baselines():
    assert {"skeletonclr", "threestream"} <= set(OBJECTIVES.names())


def test_builds_with_validated_params(encoder):
    method = build_method("skeletonclr", {"queue_size": 16, "temperature": 0.1}, encoder, num_classes=60)
    assert isinstance(method, SkeletonCLR) and isinstance(method, Method)
    assert method.encoder is encoder
    assert method.params == SkeletonCLRParams(queue_size=16, temperature=0.1)
    assert method.branch.queue.shape == (16, 128)


def test_accepts_a_params_instance_and_none(encoder):
    params = SkeletonCLRParams(queue_size=4)
    assert build_method("skeletonclr", params, encoder).params is params
    assert build_method("skeletonclr", None, encoder).params == SkeletonCLRParams()


def test_unknown_method_lists_the_known_ones(encoder):
    with pytest.raises(ConfigError, match=r"unknown objective 'simclr'.*skeletonclr.*threestream"):
        build_method("simclr", {}, encoder)


@pytest.mark.parametrize(
    "params,message",
    [
        ({"queue_sise": 16}, r"objective\.params\.queue_sise: unknown key"),
        ({"queue_size": "big"}, r"objective\.params\.queue_size: expected an integer"),
        ({"temperature": -1.0}, "temperature must be > 0"),
        ({"momentum": 1.5}, r"momentum must be in \[0, 1\]"),
        ({"momentum_schedule": "linear"}, r"objective\.params\.momentum_schedule: 'linear' is not one of"),
        ({"proj_dim": 0}, "proj dims must be positive"),
    ],
)
def test_bad_params_name_the_key(encoder, params, message):
    with pytest.raises(ConfigError, match=message):
        build_method("skeletonclr", params, encoder)


def test_params_must_be_a_mapping(encoder):
    with pytest.raises(ConfigError, match="expected a mapping for method 'skeletonclr'"):
        build_method("skeletonclr", [("queue_size", 4)], encoder)
