"""Parity of the fusion adapters' core modules with the authors' own modules, imported
from local checkouts of their repositories (nothing is downloaded, nothing is copied).

    .venv/bin/python benchmarks/fusion_parity.py --ref /work/ref [--adapters epam umdr integral mmcl]

For each adapter the smallest unit of the authors' code that imports on a CPU machine is
built at the authors' sizes with random weights; the same weights are mapped into the
ssl_skel module and both see the same random inputs; the max abs difference of their
outputs (attention maps, gates, fused features, logits, losses) is printed per row.
Where the authors' module cannot be imported the row says why. Expected checkouts under
--ref: Multimodal-Action-Recognition (EPAM-Net), MotionRGBD-PAMI (UMDR; needs `einops`,
found on sys.path or in --extra-path), IntegralAction_RELEASE, MMCL-Action. Called from
`benchmarks/parity.py --umurl DIR/UmURL --fusion`, --ref defaults to DIR. Stubs stand
in for imports the units do not use (mmcv, cv2, seaborn, matplotlib, the releases'
`config`/`utils` modules); `main(argv)` returns the rows for benchmarks/parity.py.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import sys
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

Row = dict  # {"adapter", "unit", "max_abs_diff" (float | None), "note"}


def _diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().float() - b.detach().float()).abs().max())


def _stub(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(mod, k, v)
    sys.modules.setdefault(name, mod)
    return sys.modules[name]


def _load_file(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _function_from_file(path: Path, name: str, cls: str | None = None, namespace: dict | None = None) -> Callable:
    """One function (optionally a method of `cls`) of a source file, run without importing the file."""
    tree = ast.parse(path.read_text())
    nodes = tree.body
    if cls is not None:
        nodes = next(n.body for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls)
    fn = next(n for n in nodes if isinstance(n, ast.FunctionDef) and n.name == name)
    ns = dict(namespace or {})
    exec(compile(ast.Module([fn], []), str(path), "exec"), ns)
    return ns[name]


def _load(module: torch.nn.Module, state: dict, rename: Callable[[str], str], reshape: bool = False) -> None:
    mapped = {}
    own = module.state_dict()
    for key, value in state.items():
        new = rename(key)
        if new is None:
            continue
        mapped[new] = value.reshape(own[new].shape) if reshape and new in own else value
    module.load_state_dict(mapped, strict=True)


# --------------------------------------------------------------------------- EPAM-Net
def epam_rows(ref: Path) -> list[Row]:
    from ssl_skel.fusion.blocks import TemporalShift
    from ssl_skel.fusion.epam import PoseAttention

    repo = ref / "Multimodal-Action-Recognition"
    mmcv = _stub("mmcv")
    mmcv.cnn = _stub("mmcv.cnn", ConvModule=object)  # only their unused TemporalAttention needs it
    theirs_mod = _load_file("epam_attention_module", repo / "actionModels" / "attention_module.py")
    torch.manual_seed(0)
    theirs = theirs_mod.CBAMSpatialEfficientTemporalAttention(attention_type="nested")
    ours = PoseAttention(7, 7)
    names = {"spatial.conv.weight": "spatial_conv.weight", "conv_temporal_attention.weight": "temporal_conv.weight"}
    with torch.no_grad():
        theirs.spatial.bn.weight.uniform_(0.5, 1.5)
        theirs.spatial.bn.bias.uniform_(-0.5, 0.5)
        theirs.spatial.bn.running_mean.uniform_(-0.2, 0.2)
        theirs.spatial.bn.running_var.uniform_(0.5, 2.0)
    _load(ours, theirs.state_dict(), lambda k: names.get(k, k.replace("spatial.bn.", "spatial_bn.")))
    pose48 = torch.randn(2, 216, 48, 7, 7)  # their pose stream's output shape
    pose16 = pose48[:, :, ::3]  # their time_strided_inds = range(0, 48, 3)
    rows = []
    for mode in ("eval", "train"):
        theirs.train(mode == "train")
        ours.train(mode == "train")
        rows.append(
            {
                "adapter": "epam",
                "unit": f"pose attention map s*t ({mode})",
                "max_abs_diff": _diff(theirs(pose16), ours(pose16)[0]),
                "note": "CBAMSpatialEfficientTemporalAttention('nested') on (2, 216, 16, 7, 7)",
            }
        )
    rgb = torch.randn(2, 432, 16, 7, 7)
    theirs.eval()
    ours.eval()
    att = theirs(pose16)
    guided = (rgb + rgb * att).mean((2, 3, 4))
    mine = (rgb * (1 + ours(pose16)[0])).mean((2, 3, 4))
    rows.append(
        {"adapter": "epam", "unit": "guided RGB feature", "max_abs_diff": _diff(guided, mine), "note": "rgb + rgb*att"}
    )
    x = torch.randn(2, 16, 8, 3, 3)
    backbones = repo / "mmaction" / "models" / "backbones"
    for fold, file in ((8, "x3dTemporalshift.py"), (4, "x3dTShiftPose.py")):
        shift = _function_from_file(backbones / file, "temporalShift", cls="BlockX3D", namespace={"torch": torch})
        rows.append(
            {
                "adapter": "epam",
                "unit": f"temporal shift fold {fold}",
                "max_abs_diff": _diff(shift(None, x), TemporalShift(fold)(x)),
                "note": f"BlockX3D.temporalShift in {file}",
            }
        )
    return rows


# --------------------------------------------------------------------------- UMDR
def _umdr_modules(ref: Path, extra_path: list[str]):
    import torchvision  # noqa: F401  (import before fusion_Net appends a list to sys.path)

    repo = ref / "MotionRGBD-PAMI"
    sys.path[:0] = [p for p in extra_path if p not in sys.path]
    for name in ("cv2", "seaborn", "matplotlib", "matplotlib.pyplot"):
        _stub(name)
    utils = _stub("utils")
    uniform = _function_from_file(repo / "utils" / "utils.py", "uniform_sampling", namespace={"np": np})
    for k in ("load_pretrained_checkpoint", "load_checkpoint", "SoftTargetCrossEntropy"):
        setattr(utils, k, lambda *a, **kw: None)
    utils.uniform_sampling, utils.concat_all_gather = uniform, (lambda t: t)
    pkg = types.ModuleType("umdr_release")
    pkg.__path__ = [str(repo / "lib" / "model")]  # skip the package __init__ (it imports timm)
    sys.modules["umdr_release"] = pkg
    before = list(sys.path)
    try:
        trans = importlib.import_module("umdr_release.trans_module")
        fusion = importlib.import_module("umdr_release.fusion_Net")
        dsn = importlib.import_module("umdr_release.DSN_v2")
    finally:
        sys.path[:] = [p for p in sys.path if isinstance(p, str)] if sys.path != before else sys.path
    fusion.concat_all_gather = lambda t: t
    return repo, trans, fusion, dsn, uniform


def _cross_attention_key(key: str) -> str:
    return key.replace("ffn.norm.", "ffn_norm.").replace("ffn.fn.", "ffn.")


def _cfcer_key(key: str) -> str | None:
    fixed = {
        "pos_embedding_M": "pos_m",
        "pos_embedding_K": "pos_k",
        "SCC_Module.norm.weight": "scc_norm.weight",
        "SCC_Module.norm.bias": "scc_norm.bias",
        "TimesFormer.norm.weight": "tcc_norm.weight",
        "TimesFormer.norm.bias": "tcc_norm.bias",
    }
    if key in fixed:
        return fixed[key]
    for a, b in (
        ("classifier1.", "head_m."),
        ("classifier2.", "head_k."),
        ("norm1.", "norm_m."),
        ("norm2.", "norm_k."),
    ):
        if key.startswith(a):
            return b + key[len(a) :]
    key = key.replace("temp_enhance_module.", "temp_enhance.")
    key = key.replace("SCC_Module.att_nets.", "scc.").replace("TimesFormer.att_nets.", "tcc.")
    return _cross_attention_key(key)


def umdr_rows(ref: Path, extra_path: list[str]) -> list[Row]:
    from ssl_skel.fusion.umdr import (
        RCM,
        CFCer,
        CrossAttention,
        EnhanceModule,
        TopKSelfAttention,
        UMDRParams,
        smooth_one_hot,
        uniform_sampling,
    )

    repo, trans, fusion, dsn, their_uniform = _umdr_modules(ref, extra_path)
    rows: list[Row] = []
    torch.manual_seed(0)
    theirs = trans.Attention(512, heads=8, dim_head=64, knn_attention=0.7).eval()
    ours = TopKSelfAttention(512, 8, 64, 0.0, 0.7).eval()
    _load(ours, theirs.state_dict(), lambda k: k)
    x = torch.randn(2, 17, 512)
    rows.append(
        {
            "adapter": "umdr",
            "unit": "top-k self-attention",
            "max_abs_diff": _diff(theirs(x), ours(x)),
            "note": "k=11/17",
        }
    )
    theirs = fusion.AttentionNet(512).eval()
    ours = CrossAttention(512, 8, 64, 768, 0.1, 0.7).eval()
    _load(ours, theirs.state_dict(), _cross_attention_key)
    xr, xd = torch.randn(2, 16, 512), torch.randn(2, 16, 512)
    rows.append(
        {
            "adapter": "umdr",
            "unit": "CFCer cross-attention",
            "max_abs_diff": _diff(theirs(xr, xd), ours(xr, xd)),
            "note": "AttentionNet",
        }
    )
    theirs = fusion.EnhanceModule(512)
    ours = EnhanceModule(512)
    _load(ours, theirs.state_dict(), lambda k: k)
    a, b = theirs(xr, xd), ours(xr, xd)
    rows.append(
        {
            "adapter": "umdr",
            "unit": "CFCer gating",
            "max_abs_diff": max(_diff(a[0], b[0]), _diff(a[1], b[1])),
            "note": "EnhanceModule",
        }
    )
    args = types.SimpleNamespace(scc_depth=2, tcc_depth=4, sample_duration=16)
    theirs = fusion.CrossFusionNet(args, num_classes=60, pretrained=False).eval()
    params = UMDRParams(dim=512, heads=8, dim_head=64, mlp_dim=768, dropout=0.1)
    ours = CFCer(16, 60, params).eval()
    _load(ours, theirs.state_dict(), _cfcer_key)
    feats = (torch.randn(2, 16, 512), torch.randn(2, 16, 512), torch.randn(2, 512), torch.randn(2, 512))
    (tm, tk), _ = theirs(feats)
    om, ok, _ = ours(*feats)
    rows.append(
        {
            "adapter": "umdr",
            "unit": "CFCer logits out_M, out_K",
            "max_abs_diff": max(_diff(tm, om), _diff(tk, ok)),
            "note": "CrossFusionNet(scc 2, tcc 4, T 16)",
        }
    )
    theirs = dsn.RCMModule(types.SimpleNamespace(sample_duration=16)).eval()
    ours = RCM(16, 512, 16).eval()
    _load(ours, theirs.state_dict(), lambda k: k.replace("TM_project.", "project."))
    x = torch.randn(2, 32, 16, 4, 4)
    (t_out, t_distill), (o_out, o_distill) = theirs(x.clone()), ours(x.clone())
    rows.append(
        {
            "adapter": "umdr",
            "unit": "RCM recoupling (maps, distill logits)",
            "max_abs_diff": max(_diff(t_out, o_out), _diff(t_distill, o_distill)),
            "note": "RCMModule, T 16",
        }
    )
    worst = max(
        float(np.abs(np.asarray(their_uniform(n, r, random=False)) - np.asarray(uniform_sampling(n, r, None))).max())
        for n in (8, 16, 32)
        for r in (n // 2, n, 3 * n // 2)
    )
    rows.append({"adapter": "umdr", "unit": "uniform_sampling (test)", "max_abs_diff": worst, "note": "utils/utils.py"})
    mix_ns = {"torch": torch}
    mix_ns["one_hot"] = _function_from_file(repo / "utils" / "mixup.py", "one_hot", namespace=mix_ns)
    target = _function_from_file(repo / "utils" / "mixup.py", "mixup_target", namespace=mix_ns)
    y = torch.tensor([3, 1, 4, 1, 5])
    lam = 0.37
    mine = lam * smooth_one_hot(y, 10, 0.1) + (1 - lam) * smooth_one_hot(y.flip(0), 10, 0.1)
    rows.append(
        {
            "adapter": "umdr",
            "unit": "mixed soft target",
            "max_abs_diff": _diff(target(y, 10, lam, 0.1, device="cpu"), mine),
            "note": "mixup_target, smoothing 0.1",
        }
    )
    return rows


# --------------------------------------------------------------------------- IntegralAction
def integral_rows(ref: Path) -> list[Row]:
    from ssl_skel.fusion.integral import Aggregator

    repo = ref / "IntegralAction_RELEASE"
    cfg = types.SimpleNamespace(
        resnet_feat_dim={18: 512, 34: 512, 50: 2048},
        img_resnet_type=18,
        pose_resnet_type=18,
        agg_feat_dim=512,
        frame_per_seg=8,
        pose_frame_factor=1,
        pose_gate=True,
        mode="rgb+pose",
    )
    sys.modules["config"] = types.SimpleNamespace(cfg=cfg)  # their main/config.py cannot be imported as is
    sys.path.insert(0, str(repo / "common"))
    module = importlib.import_module("nets.module")
    torch.manual_seed(0)
    theirs = module.Aggregator()
    ours = Aggregator(512, 512, 512, gate=True)

    def rename(k: str) -> str | None:
        if k.startswith("pose_temporal_conv."):
            return None  # built but unused when pose_frame_factor == 1
        k = k.replace("pose_gate_fc.0.", "gate_fc.").replace("img_conv.", "rgb_proj.").replace("img_norm.", "rgb_norm.")
        return k.replace("pose_conv.", "pose_proj.")

    _load(ours, theirs.state_dict(), rename, reshape=True)
    classifier = module.Classifier(60)
    rows = []
    video, pose = torch.randn(16, 512, 7, 7), torch.randn(16, 512, 7, 7)  # N * T = 2 * 8 frames
    for mode in ("train", "eval"):
        theirs.train(mode == "train")
        ours.train(mode == "train")
        t_feat, t_gate = theirs(video, pose)
        o_feat, o_gate = ours(video.mean((2, 3)), pose.mean((2, 3)))
        rows.append(
            {
                "adapter": "integral",
                "unit": f"per-frame pose gate ({mode})",
                "max_abs_diff": _diff(t_gate[:, :, 0, 0], o_gate),
                "note": "Aggregator, 16 frames",
            }
        )
        rows.append(
            {
                "adapter": "integral",
                "unit": f"integrated feature ({mode})",
                "max_abs_diff": _diff(t_feat[:, :, 0, 0], o_feat),
                "note": "(1 - g) LN(conv-BN-ReLU v) + g LN(conv-BN-ReLU p)",
            }
        )
    head = torch.nn.Linear(512, 60)
    head.load_state_dict({"weight": classifier.fc[0].weight, "bias": classifier.fc[0].bias})
    classifier.eval()
    clip_theirs = classifier(t_feat).view(2, 8, 60).mean(1)
    clip_ours = head(o_feat.view(2, 8, 512)).mean(1)
    rows.append(
        {
            "adapter": "integral",
            "unit": "clip logits (mean of frames)",
            "max_abs_diff": _diff(clip_theirs, clip_ours),
            "note": "Classifier + view(N, T, K).mean(1)",
        }
    )
    return rows


# --------------------------------------------------------------------------- MMCL
def mmcl_rows(ref: Path) -> list[Row]:
    import torchvision
    from lightly.loss import NTXentLoss

    from ssl_skel.fusion.mmcl import FeatureRefinement

    repo = ref / "MMCL-Action"
    sys.path.insert(0, str(repo))
    fam = importlib.import_module("model.FAM")
    mmcl = importlib.import_module("model.MMCL")
    rows = []
    torch.manual_seed(0)
    align = fam.FAM_Aligh(1000, 256)
    ske, img = torch.randn(4 * 2, 256, 16, 25), torch.randn(4, 1000)
    their_loss, _ = align(ske, img)
    pooled = ske.mean(-1).mean(-1).reshape(4, 2, 256).mean(1)  # their skeleton side: no projection
    mine = NTXentLoss(temperature=0.4)(pooled, align.mlp(img))
    rows.append(
        {
            "adapter": "mmcl",
            "unit": "FAM alignment loss",
            "max_abs_diff": _diff(their_loss.mean(), mine),
            "note": "FAM_Aligh + Contrastive_loss(0.4) vs NTXentLoss(0.4)",
        }
    )
    original = torchvision.models.inception_v3
    mmcl.models.inception_v3 = lambda pretrained=False: original(weights=None, aux_logits=True, init_weights=False)
    net = mmcl.Model(
        num_class=120,
        num_point=25,
        num_person=2,
        graph="graph.ntu_rgb_d.Graph",
        graph_args={"labeling_mode": "spatial"},
    )
    with torch.no_grad():  # move the FRM off its identity init so the test is not trivial
        net.PosMatrix.uniform_(0.5, 2.0)
        net.NegMatrix.uniform_(0.0, 1.5)
    captured = {}
    net.fc.register_forward_hook(lambda m, i, o: captured.setdefault("z", o.detach()))
    net.train()
    x, feature, image = torch.randn(2, 3, 64, 25, 2), torch.rand(2, 1, 3) * 4, torch.randn(2, 3, 299, 299)
    with torch.no_grad():
        _, refined, _ = net(x, feature, image, "train")
    frm = FeatureRefinement(3, 120, 64)
    frm.load_state_dict(
        {
            "mlp.0.weight": net.mlp[0].weight,
            "mlp.0.bias": net.mlp[0].bias,
            "mlp.2.weight": net.mlp[2].weight,
            "mlp.2.bias": net.mlp[2].bias,
            "pos": net.PosMatrix,
            "neg": net.NegMatrix,
        }
    )
    rows.append(
        {
            "adapter": "mmcl",
            "unit": "FRM refined logits",
            "max_abs_diff": _diff(refined, frm(captured["z"], feature.squeeze(1))),
            "note": "Model.forward(train), 120 classes",
        }
    )
    return rows


UNITS = {"epam": epam_rows, "umdr": umdr_rows, "integral": integral_rows, "mmcl": mmcl_rows}


def main(argv: list[str] | None = None) -> list[Row]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ref", help="folder holding the authors' checkouts (default: the folder of --umurl's checkout)")
    p.add_argument("--umurl", help=argparse.SUPPRESS)  # set when benchmarks/parity.py --fusion calls main()
    p.add_argument("--adapters", nargs="+", default=list(UNITS), choices=list(UNITS))
    p.add_argument("--extra-path", nargs="*", default=[], help="folders put on sys.path (e.g. where einops is)")
    args, _ = p.parse_known_args(argv)  # parity.py --fusion passes its own command line through
    if not args.ref:
        if not args.umurl:
            p.error("--ref is required (the folder holding the authors' checkouts)")
        args.ref = str(Path(args.umurl).resolve().parent)
    torch.set_grad_enabled(True)
    rows: list[Row] = []
    for name in args.adapters:
        try:
            rows += UNITS[name](Path(args.ref)) if name != "umdr" else umdr_rows(Path(args.ref), args.extra_path)
        except Exception as exc:  # a missing checkout or dependency is a row, not a crash
            rows.append({"adapter": name, "unit": "-", "max_abs_diff": None, "note": f"not importable: {exc!r}"})
    print("| adapter | unit | max abs diff | authors' module |")
    print("|---|---|---:|---|")
    for r in rows:
        d = "-" if r["max_abs_diff"] is None else f"{r['max_abs_diff']:.2e}"
        print(f"| {r['adapter']} | {r['unit']} | {d} | {r['note']} |")
    return rows


if __name__ == "__main__":
    main()
