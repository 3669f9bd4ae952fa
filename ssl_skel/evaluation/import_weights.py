"""Import the UmURL authors' released weights as an ssl_skel checkpoint.

Why: users compare with the paper by evaluating the authors' own model under ssl_skel's
protocols (`ssl-skel linear`, `ssl-skel knn`, `load_encoder`). Their checkpoints
(HuiGuanLab/UmURL `pretrain.py`: {"epoch", "state_dict", "optimizer"} with DDP's `module.`
prefix; a linear-evaluation `Downstream` state without it) hold the encoder under
`backbone.*`. The mapping onto the `unified` encoder, key by key:

    backbone.{j,b,m}_emb.t_embedding.{0,1,3}    temporal_embed.{joint,bone,motion}.{inp,norm,out}
    backbone.{j,b,m}_emb.s_embedding.{0,1,3}    spatial_embed.{joint,bone,motion}.{inp,norm,out}
    backbone.mm_fusion.{t,s}_fusion.0           {temporal,spatial}_fuse
    backbone.ma_encoder.{t,s}_tr.layers.L.      {temporal,spatial}.layers.L.
        self_attn.in_proj_{weight,bias}             qkv          (q, k, v stacked in the same order)
        self_attn.out_proj                          proj
        linear1, linear2, norm1, norm2              ff1, ff2, norm1, norm2
    backbone.ma_encoder.pe.pe                   dropped: the sinusoidal table ssl_skel rebuilds (checked equal)
    {j,b,m}_projector.*, fc.*                   dropped: projection heads / the linear classifier

Sizes come from the weights (hidden size, layers, feed-forward width, clip length T from the
spatial token width T*C); the number of heads cannot be read from weights (1 in every
released config). Loads use `torch.load(weights_only=True)`; every problem is one line that
names the file and the keys.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ssl_skel.core.checkpoint import FORMAT, VERSION, CheckpointError, save_checkpoint
from ssl_skel.core.config import config_from_tree, read_preset, to_dict
from ssl_skel.data.spec import InputSpec
from ssl_skel.models.encoders.unified import UnifiedEncoder, UnifiedParams, sinusoidal_positions

MODALITY = {"j": "joint", "b": "bone", "m": "motion"}
STREAM = {"t": "temporal", "s": "spatial"}
EMBED = {"0": "inp", "1": "norm", "3": "out"}
LAYER = {
    "self_attn.in_proj_weight": "qkv.weight",
    "self_attn.in_proj_bias": "qkv.bias",
    "self_attn.out_proj.weight": "proj.weight",
    "self_attn.out_proj.bias": "proj.bias",
    "linear1.weight": "ff1.weight",
    "linear1.bias": "ff1.bias",
    "linear2.weight": "ff2.weight",
    "linear2.bias": "ff2.bias",
    "norm1.weight": "norm1.weight",
    "norm1.bias": "norm1.bias",
    "norm2.weight": "norm2.weight",
    "norm2.bias": "norm2.bias",
}
_EMB = re.compile(r"^backbone\.([jbm])_emb\.([ts])_embedding\.([013])\.(weight|bias)$")
_FUSE = re.compile(r"^backbone\.mm_fusion\.([ts])_fusion\.0\.weight$")
_LAYER = re.compile(r"^backbone\.ma_encoder\.([ts])_tr\.layers\.(\d+)\.(.+)$")
_DROPPED = re.compile(r"^([jbm]_projector\.|fc\.)|^backbone\.ma_encoder\.pe\.pe$")


def _names(keys: list[str]) -> str:
    return ", ".join(keys[:6]) + (f" (+{len(keys) - 6} more)" if len(keys) > 6 else "")


def umurl_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The model state of an authors' checkpoint file, `module.` prefix removed (weights_only load)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - damaged bytes and foreign pickles fail in many ways
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({reason[:200]})") from None
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: not an UmURL checkpoint (expected a state_dict of tensors, or a dict with one)")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    if not any(k.startswith("backbone.") for k in state):
        raise CheckpointError(
            f"{path}: not an UmURL checkpoint (no backbone.* keys; first keys: {_names(list(state))})"
        )
    return state


def map_umurl_state(state: dict[str, torch.Tensor], source: str = "state_dict") -> dict[str, torch.Tensor]:
    """Authors' keys -> `unified` encoder keys (see the module docstring); unknown keys are an error."""
    out: dict[str, torch.Tensor] = {}
    unexpected = []
    for key, value in state.items():
        if m := _EMB.match(key):
            out[f"{STREAM[m[2]]}_embed.{MODALITY[m[1]]}.{EMBED[m[3]]}.{m[4]}"] = value
        elif m := _FUSE.match(key):
            out[f"{STREAM[m[1]]}_fuse.weight"] = value
        elif (m := _LAYER.match(key)) and m[3] in LAYER:
            out[f"{STREAM[m[1]]}.layers.{m[2]}.{LAYER[m[3]]}"] = value
        elif not _DROPPED.match(key):
            unexpected.append(key)
    if unexpected:
        raise CheckpointError(f"{source}: unexpected keys for an UmURL model: {_names(sorted(unexpected))}")
    return out


def unified_params_from(mapped: dict[str, torch.Tensor], num_heads: int, source: str) -> tuple[UnifiedParams, int]:
    """(encoder params, clip length) read off the weight shapes."""
    try:
        hidden, spatial_in = mapped["spatial_embed.joint.inp.weight"].shape
        ffn = mapped["temporal.layers.0.ff1.weight"].shape[0]
    except KeyError as exc:
        raise CheckpointError(f"{source}: missing keys for an UmURL model: {exc.args[0]} (mapped name)") from None
    layers = 1 + max(int(k.split(".")[2]) for k in mapped if k.startswith("temporal.layers."))
    return UnifiedParams(hidden, num_heads, layers, 0 if ffn == hidden else ffn), spatial_in // 3


def build_unified(
    state: dict[str, torch.Tensor], *, num_heads: int = 1, layout: str = "ntu25", in_channels: int = 3, source: str = ""
) -> UnifiedEncoder:
    """A `unified` encoder holding the authors' weights (strict: missing or extra keys are named)."""
    source = source or "state_dict"
    mapped = map_umurl_state(state, source)
    params, clip_length = unified_params_from(mapped, num_heads, source)
    temporal_in = mapped["temporal_embed.joint.inp.weight"].shape[1]
    num_joints = InputSpec(layout, in_channels, 1, clip_length).skeleton.num_joints
    persons = temporal_in // (num_joints * in_channels)
    if persons * num_joints * in_channels != temporal_in:
        raise CheckpointError(
            f"{source}: temporal token width {temporal_in} is not persons x {num_joints} x {in_channels}"
        )
    encoder = UnifiedEncoder(InputSpec(layout, in_channels, persons, clip_length), params)
    own = encoder.state_dict()
    missing = sorted(set(own) - set(mapped))
    shape = sorted(k for k in set(own) & set(mapped) if own[k].shape != mapped[k].shape)
    if missing or shape:
        problems = ([f"missing keys (unified names): {_names(missing)}"] if missing else []) + (
            [f"shape mismatch: {_names([f'{k} {tuple(mapped[k].shape)} vs {tuple(own[k].shape)}' for k in shape])}"]
            if shape
            else []
        )
        raise CheckpointError(f"{source}: {'; '.join(problems)}")
    encoder.load_state_dict(mapped, strict=True)
    pe = state.get("backbone.ma_encoder.pe.pe")
    if pe is not None:
        ours = sinusoidal_positions(clip_length, params.hidden_size)
        if not torch.allclose(pe[0, :clip_length].float(), ours, atol=1e-5):
            raise CheckpointError(f"{source}: backbone.ma_encoder.pe.pe is not the sinusoidal table ssl_skel uses")
    return encoder


def import_umurl(checkpoint: str | Path, out: str | Path, *, config: str = "ntu60_xsub", num_heads: int = 1) -> Path:
    """Write an ssl_skel encoder checkpoint (kind "encoder") from an authors' UmURL checkpoint.

    `config` (a preset name or YAML path) becomes the stored run config, so `ssl-skel
    linear/knn --checkpoint OUT` know the dataset and protocol without --config.
    """
    checkpoint, out = Path(checkpoint), Path(out)
    state = umurl_state_dict(checkpoint)
    encoder = build_unified(state, num_heads=num_heads, source=str(checkpoint))
    _, tree = read_preset(config)
    tree.setdefault("model", {})
    tree["model"] = {"name": "unified", "params": to_dict(encoder.params)}
    tree.setdefault("data", {})["clip_length"] = encoder.spec.clip_length
    tree["name"] = tree.get("name") or f"umurl_import_{checkpoint.stem}"
    config_from_tree(tree, source=str(config))  # a bad preset fails here, not at evaluation time
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "kind": "encoder",
        "config": tree,
        "encoder": {
            "name": "unified",
            "params": to_dict(encoder.params),
            "spec": to_dict(encoder.spec),
            "prefix": "encoder.",
        },
        "model": {"encoder." + k: v.detach().clone() for k, v in encoder.state_dict().items()},
        "epoch": 0,
        "step": 0,
        "metrics": {},
        "source": {"imported_from": "HuiGuanLab/UmURL", "checkpoint": str(checkpoint)},
    }
    return save_checkpoint(payload, out)
