"""`ssl-skel import-weights umurl`: a state dict built to the authors' key names and shapes lands in the
unified encoder (checked against torch's own transformer layer), and bad or foreign files fail in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ssl_skel.cli import main as cli
from ssl_skel.core.checkpoint import CheckpointError, save_checkpoint
from ssl_skel.evaluation.api import load_encoder
from ssl_skel.evaluation.import_weights import build_unified, import_umurl, umurl_state_dict
from ssl_skel.models.encoders.unified import sinusoidal_positions

H, T, C, V, M = 16, 8, 3, 25, 2


def umurl_like_state(seed: int = 0, fc: bool = False, projectors: bool = True) -> dict[str, torch.Tensor]:
    """Random tensors under the authors' `UmURL` keys (hidden H, clip T), as their state_dict lays them out."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * 0.2

    s: dict[str, torch.Tensor] = {}
    for mod in "jbm":
        for stream, width in (("t", M * V * C), ("s", T * C)):
            p = f"backbone.{mod}_emb.{stream}_embedding."
            s |= {p + "0.weight": r(H, width), p + "0.bias": r(H), p + "1.weight": 1 + r(H), p + "1.bias": r(H)}
            s |= {p + "3.weight": r(H, H), p + "3.bias": r(H)}
    s["backbone.mm_fusion.t_fusion.0.weight"] = r(H, H)
    s["backbone.mm_fusion.s_fusion.0.weight"] = r(H, H)
    s["backbone.ma_encoder.pe.pe"] = sinusoidal_positions(200, H)[None]
    for stream in "ts":
        p = f"backbone.ma_encoder.{stream}_tr.layers.0."
        s |= {p + "self_attn.in_proj_weight": r(3 * H, H), p + "self_attn.in_proj_bias": r(3 * H)}
        s |= {p + "self_attn.out_proj.weight": r(H, H), p + "self_attn.out_proj.bias": r(H)}
        s |= {p + "linear1.weight": r(H, H), p + "linear1.bias": r(H), p + "linear2.weight": r(H, H)}
        s |= {p + "linear2.bias": r(H), p + "norm1.weight": 1 + r(H), p + "norm1.bias": r(H)}
        s |= {p + "norm2.weight": 1 + r(H), p + "norm2.bias": r(H)}
    if projectors:
        for mod in "jbm":
            s[f"{mod}_projector.0.weight"], s[f"{mod}_projector.6.weight"] = r(2 * H, 2 * H), r(64, 2 * H)
            s[f"{mod}_projector.1.running_mean"] = r(2 * H)
            s[f"{mod}_projector.1.num_batches_tracked"] = torch.tensor(3)
    if fc:
        s["fc.weight"], s["fc.bias"] = r(60, 2 * H), r(60)
    return s


def reference_joint_feature(s: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The authors' joint path written with torch modules: embed, +pe on temporal tokens, one
    nn.TransformerEncoderLayer per stream, max over tokens, concat."""
    n = x.shape[0]
    tokens = {
        "t": x.permute(0, 2, 4, 3, 1).reshape(n, T, M * V * C),
        "s": x.permute(0, 4, 3, 2, 1).reshape(n, M * V, T * C),
    }
    outs = []
    for stream in "ts":
        p = f"backbone.j_emb.{stream}_embedding."
        emb = nn.Sequential(nn.Linear(tokens[stream].shape[-1], H), nn.LayerNorm(H), nn.ReLU(), nn.Linear(H, H))
        emb.load_state_dict({k[len(p) :]: v for k, v in s.items() if k.startswith(p)})
        h = emb(tokens[stream])
        if stream == "t":
            h = h + s["backbone.ma_encoder.pe.pe"][:, :T]
        layer = nn.TransformerEncoderLayer(H, 1, H, dropout=0.0, batch_first=True)
        p = f"backbone.ma_encoder.{stream}_tr.layers.0."
        layer.load_state_dict({k[len(p) :]: v for k, v in s.items() if k.startswith(p)})
        outs.append(layer.eval()(h).amax(dim=1))
    return torch.cat(outs, dim=1)


def test_synthetic_authors_state_maps_onto_the_unified_encoder(tmp_path: Path) -> None:
    state = umurl_like_state()
    ckpt = tmp_path / "checkpoint_0450.pth.tar"
    torch.save({"epoch": 451, "state_dict": {"module." + k: v for k, v in state.items()}, "optimizer": {}}, ckpt)
    out = import_umurl(ckpt, tmp_path / "umurl.pt", config="ntu60_xsub")
    enc = load_encoder(out)
    assert enc.dim == 2 * H and enc.spec.clip_length == T and enc.spec.num_persons == M
    x = torch.randn(3, C, T, V, M, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = enc.embed(x, "joint")
        ref = reference_joint_feature(state, x)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=1e-5)
    payload = torch.load(out, weights_only=True)
    assert payload["config"]["data"]["clip_length"] == T and payload["config"]["model"]["name"] == "unified"


def test_linear_eval_state_without_prefix_imports_too(tmp_path: Path) -> None:
    state = umurl_like_state(fc=True, projectors=False)
    ckpt = tmp_path / "downstream.pth.tar"
    torch.save({"epoch": 150, "state_dict": state, "best_acc1": 80.0, "optimizer": {}}, ckpt)
    enc = build_unified(umurl_state_dict(ckpt))
    np.testing.assert_array_equal(
        enc.temporal_fuse.weight.detach().numpy(), state["backbone.mm_fusion.t_fusion.0.weight"].numpy()
    )
    np.testing.assert_array_equal(
        enc.spatial.layers[0].qkv.bias.detach().numpy(),
        state["backbone.ma_encoder.s_tr.layers.0.self_attn.in_proj_bias"].numpy(),
    )


def one_line_error(capsys, argv: list[str]) -> str:
    assert cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("ssl-skel import-weights: error: ")
    return err


def test_bad_and_foreign_checkpoints_give_one_line(tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk.pth.tar"
    junk.write_bytes(b"not a checkpoint at all")
    assert "not a readable PyTorch checkpoint" in one_line_error(
        capsys, ["import-weights", "umurl", str(junk), str(tmp_path / "o.pt")]
    )
    assert "checkpoint not found" in one_line_error(
        capsys, ["import-weights", "umurl", str(tmp_path / "none"), str(tmp_path / "o.pt")]
    )
    foreign = tmp_path / "ssl_skel.pt"
    save_checkpoint({"kind": "encoder", "model": {"encoder.temporal.w": torch.zeros(1)}}, foreign)
    assert "not an UmURL checkpoint" in one_line_error(
        capsys, ["import-weights", "umurl", str(foreign), str(tmp_path / "o.pt")]
    )
    extra = umurl_state_dict_file(tmp_path, "extra.pth.tar", add={"backbone.extra.weight": torch.zeros(2)})
    assert "unexpected keys for an UmURL model: backbone.extra.weight" in one_line_error(
        capsys, ["import-weights", "umurl", str(extra), str(tmp_path / "o.pt")]
    )
    missing = umurl_state_dict_file(tmp_path, "missing.pth.tar", drop="backbone.m_emb.s_embedding.3.bias")
    assert "missing keys (unified names): spatial_embed.motion.out.bias" in one_line_error(
        capsys, ["import-weights", "umurl", str(missing), str(tmp_path / "o.pt")]
    )
    pickled = tmp_path / "pickle.pth.tar"
    torch.save(
        {"state_dict": umurl_like_state(), "args": Path("x")}, pickled
    )  # a non-tensor object: refused by weights_only
    err = one_line_error(capsys, ["import-weights", "umurl", str(pickled), str(tmp_path / "o.pt")])
    assert "not a readable PyTorch checkpoint" in err


def umurl_state_dict_file(tmp_path: Path, name: str, add: dict | None = None, drop: str | None = None) -> Path:
    state = umurl_like_state()
    state.update(add or {})
    state.pop(drop, None)
    path = tmp_path / name
    torch.save({"epoch": 1, "state_dict": {"module." + k: v for k, v in state.items()}}, path)
    return path


def test_import_rejects_a_wrong_positional_table(tmp_path: Path) -> None:
    state = umurl_like_state()
    state["backbone.ma_encoder.pe.pe"] = torch.zeros(1, 200, H)
    with pytest.raises(CheckpointError, match="pe.pe is not the sinusoidal table"):
        build_unified(state)


def test_imported_weights_run_through_ssl_skel_linear(tmp_path: Path, capsys) -> None:
    import json

    from ssl_skel.data.synthetic import generate_dataset

    data = generate_dataset(tmp_path / "synthetic", clips_per_class=2, num_subjects=2, max_frames=24)
    ckpt = tmp_path / "checkpoint_0450.pth.tar"
    torch.save({"epoch": 451, "state_dict": {"module." + k: v for k, v in umurl_like_state().items()}}, ckpt)
    assert cli(["import-weights", "umurl", str(ckpt), str(tmp_path / "enc.pt")]) == 0
    argv = ["linear", "--checkpoint", str(tmp_path / "enc.pt"), "--data-root", str(data), "--no-plots"]
    argv += ["--num-workers", "0", "--out", str(tmp_path / "ev"), "eval.linear_epochs=4", "eval.linear_milestones=[2]"]
    argv += ["eval.linear_test_every=2"]
    assert cli(argv) == 0, capsys.readouterr().err
    results = json.loads((tmp_path / "ev" / "results.json").read_text())
    fused = results["metrics"]["fused"]
    assert {"top1", "test_selected_best_top1", "test_selected_best_epoch"} <= set(fused)
    assert "TEST-SELECTED" in results["selection"] and results["settings"]["milestone_epochs"] == [2]
