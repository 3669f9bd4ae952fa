"""FLOP counting against hand counts (a multiply-add = 2 FLOPs)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ssl_skel.models.encoders import InputSpec, build_encoder
from ssl_skel.models.encoders.flops import count_flops, count_forward_flops


def test_linear_forward():
    layer = nn.Linear(5, 7)
    x = torch.randn(3, 5)
    assert count_forward_flops(lambda: layer(x)) == 2 * 3 * 5 * 7


def test_linear_forward_and_backward():
    layer = nn.Linear(5, 7)
    x = torch.randn(3, 5, requires_grad=True)
    # forward, grad of input, grad of weight: three products of the same size
    assert count_flops(lambda: layer(x).sum().backward()) == 3 * (2 * 3 * 5 * 7)


def test_forward_count_keeps_no_graph():
    layer = nn.Linear(4, 4)
    x = torch.randn(2, 4, requires_grad=True)
    out = []
    count_forward_flops(lambda: out.append(layer(x)))
    assert not out[0].requires_grad


def test_unified_encoder_against_hand_count():
    d, heads, c, t, v, m = 16, 2, 3, 8, 25, 2
    enc = build_encoder("unified", {"hidden_size": d, "num_heads": heads}, InputSpec("ntu25", c, m, t))
    t_tokens, s_tokens = t, m * v

    def embed(tokens, n_in):  # two Linear layers per modality
        return 2 * tokens * (n_in * d + d * d)

    def layer(tokens):  # QKV, output projection, feed-forward (f = d), QK^T and AV
        return 2 * tokens * (3 * d * d + d * d + 2 * d * d) + 2 * 2 * tokens * tokens * d

    single = embed(t_tokens, m * v * c) + embed(s_tokens, t * c) + layer(t_tokens) + layer(s_tokens)
    fused = 3 * (embed(t_tokens, m * v * c) + embed(s_tokens, t * c)) + 2 * (t_tokens + s_tokens) * d * d
    fused += layer(t_tokens) + layer(s_tokens)
    assert enc.flops_per_clip(["joint"]) == single
    assert enc.flops_per_clip() == fused  # default: the first modality, "fused"


@pytest.mark.parametrize("extra", [[], ["--baseline"]])
def test_throughput_benchmark_prints_its_figures(extra, monkeypatch, capsys):
    import importlib.util
    import json
    from pathlib import Path

    import ssl_skel.objectives.umurl as umurl

    # the baseline swaps the covariance helper module-wide: restore it after the test
    monkeypatch.setattr(umurl, "covariance_term", umurl.covariance_term)
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "pretrain_throughput.py"
    spec = importlib.util.spec_from_file_location("pretrain_throughput", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    threads = torch.get_num_threads()
    try:
        bench.main(
            [
                "--batch",
                "4",
                "--steps",
                "1",
                "--warmup",
                "0",
                "--clip-length",
                "8",
                "--threads",
                "1",
                "--encoder-params",
                '{"hidden_size": 16}',
                "--method-params",
                '{"proj_output_dim": 32}',
                "--json",
                *extra,
            ]
        )
    finally:
        torch.set_num_threads(threads)
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["batch"] == 4 and figures["views"] == 4
    # timings are rounded and may read 0 on a fast machine: check they are there, not how large they are
    assert all(figures[k] >= 0 for k in ("gflop_per_clip_step", "clips_per_s", "cpu_s_per_clip"))
    assert ("baseline" in figures["execution"]) == bool(extra)
