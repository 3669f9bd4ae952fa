"""`ssl-skel export` / `export_encoder`: the four formats give the encoder's features, and bad targets are refused.

Features are compared on clips of the built-in dataset, prepared as evaluation prepares them, at
batch sizes other than the one the graphs were traced with (2). The unified encoder comes from a
real (one-epoch) CLI pretraining; the GCNs get batch-norm statistics from the same clips.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_toys import TINY_RUN

from ssl_skel.cli import main
from ssl_skel.core.checkpoint import CheckpointError, encoder_entry, load_checkpoint, save_checkpoint
from ssl_skel.data.sources import open_arrays
from ssl_skel.data.spec import InputSpec
from ssl_skel.evaluation.api import ExportError, export_encoder, load_encoder
from ssl_skel.models.encoders import build_encoder
from ssl_skel.models.export import FeatureFunction, torchscript_bytes

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")

TOL = {"rtol": 1e-4, "atol": 1e-4}
GCN_PARAMS = {
    "stgcn": {"base_channels": 4, "out_channels": 8, "num_layers": 3, "dropout": 0.0},
    "ctrgcn": {"base_channels": 8, "out_channels": 16, "num_layers": 3},
}


def builtin_clips(root: Path, n: int, start: int = 0) -> list[np.ndarray]:
    """Raw clips (M, T, V, C) of the built-in dataset's test split, any length, as a user holds them."""
    arrays = open_arrays(root, "xsub", "test")
    clips = []
    for i in range(start, start + n):
        clip, _, length = arrays.clip(i)  # (C, T, V, M)
        clips.append(clip[:, :length].transpose(3, 1, 2, 0))
    return clips


@pytest.fixture(scope="module")
def pretrained(tiny_data, tmp_path_factory) -> Path:
    """A unified encoder's run folder after a one-epoch `ssl-skel pretrain` on the built-in data."""
    run = tmp_path_factory.mktemp("run")
    args = ["--config", "synthetic", f"data.root={tiny_data}", f"run_dir={run}", *TINY_RUN, "train.epochs=1"]
    assert main(["pretrain", *args]) == 0
    return run


def gcn_checkpoint(name: str, root: Path, like: Path, out: Path) -> Path:
    """A pretrain-kind checkpoint of a tiny GCN on the built-in data's spec, its batch norm fitted to clips."""
    ref = load_checkpoint(like)
    spec = InputSpec.from_dict(ref["encoder"]["spec"])
    torch.manual_seed(0)
    encoder = build_encoder(name, GCN_PARAMS[name], spec)
    x = load_encoder(like).prepare(builtin_clips(root, 12))
    for module in encoder.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None  # running statistics = the mean over the batches below
    encoder.train()
    with torch.no_grad():
        for batch in x.split(4):
            encoder(batch)
    config = {**ref["config"], "model": {"name": name, "params": GCN_PARAMS[name]}}
    model = {f"encoder.{k}": v for k, v in encoder.state_dict().items()}
    return save_checkpoint(
        {"kind": "pretrain", "config": config, "encoder": encoder_entry(encoder), "model": model}, out
    )


@pytest.fixture(scope="module")
def checkpoints(pretrained, tiny_data, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("gcn")
    last = pretrained / "last.pt"
    gcns = {name: gcn_checkpoint(name, tiny_data, last, folder / f"{name}.pt") for name in GCN_PARAMS}
    return {"unified": last, **gcns}


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        rc = main(["export", *argv])
    except SystemExit as exc:  # argparse
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def refused(capsys, *argv: str, expect: str) -> str:
    """Exit status 2, exactly one error line naming the problem, no traceback."""
    rc, _, err = cli(capsys, *argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, (rc, err)
    assert expect in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------- the formats
@pytest.mark.parametrize("name", ["unified", "stgcn", "ctrgcn"])
def test_torchscript_and_onnx_give_the_encoders_features(name, checkpoints, tiny_data, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    ckpt = checkpoints[name]
    frozen = load_encoder(ckpt)
    ts = export_encoder(ckpt, tmp_path / "enc.ts", "torchscript")
    onnx_file = export_encoder(ckpt, tmp_path / "enc.onnx")  # format from the suffix
    scripted = torch.jit.load(str(ts))
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.name == "joints" and inp.shape[0] == "N"
    for n, start in ((5, 0), (1, 7)):  # neither is the traced batch size (2)
        x = frozen.prepare(builtin_clips(tiny_data, n, start))
        expected = frozen.embed(x)  # "fused" for the unified encoder, the stream for a GCN
        assert expected.shape == (n, frozen.dim) and expected.abs().max() > 0.1
        with torch.no_grad():
            torch.testing.assert_close(scripted(x), expected, **TOL)
        got = session.run(["features"], {"joints": x.numpy()})[0]
        torch.testing.assert_close(torch.from_numpy(got), expected, **TOL)


@pytest.mark.parametrize("folded", [False, True])
def test_every_algebra_of_the_unified_encoder_exports(folded, checkpoints, tiny_data, tmp_path, monkeypatch):
    """The unified encoder picks its attention and fusion algebra by batch size (exact rewrites of one
    function); the graph holds the one chosen at the traced size, and any of them exports."""
    from ssl_skel.models.encoders.unified import TransformerLayer, UnifiedEncoder

    least = 0 if folded else 10**9
    monkeypatch.setattr(TransformerLayer, "merge_min_tokens", least)
    monkeypatch.setattr(UnifiedEncoder, "fold_min_tokens", least)
    ort = pytest.importorskip("onnxruntime")
    ckpt = checkpoints["unified"]
    frozen = load_encoder(ckpt)
    x = frozen.prepare(builtin_clips(tiny_data, 3))
    expected = frozen.embed(x)
    onnx_file = export_encoder(ckpt, tmp_path / "enc.onnx")
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    torch.testing.assert_close(torch.from_numpy(session.run(None, {"joints": x.numpy()})[0]), expected, **TOL)
    scripted = torch.jit.load(str(export_encoder(ckpt, tmp_path / "enc.ts")))
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), expected, **TOL)


def test_onnx_graph_has_a_dynamic_batch_and_says_what_it_is(checkpoints, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    ckpt = checkpoints["unified"]
    frozen = load_encoder(ckpt)
    out = export_encoder(ckpt, tmp_path / "enc.onnx", "onnx")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    s = frozen.spec
    shape = [s.in_channels, s.clip_length, frozen.skeleton.num_joints, s.num_persons]
    assert session.get_inputs()[0].shape == ["N", *shape]
    assert session.get_outputs()[0].shape == ["N", frozen.dim]
    info = json.loads(session.get_modelmeta().custom_metadata_map["ssl_skel"])
    assert info["modality"] == "fused" and info["encoder"] == "unified" and info["input"]["shape"] == ["N", *shape]
    assert info["eval_view"] == frozen.eval_view and info["preprocess"] == frozen.spec.preprocess
    import onnx

    assert onnx.load(str(out)).opset_import[0].version == 17


def test_torchscript_archive_says_what_it_is(checkpoints, tmp_path):
    out = export_encoder(checkpoints["stgcn"], tmp_path / "enc.pt", "torchscript")
    files = {"ssl_skel.json": ""}
    torch.jit.load(str(out), _extra_files=files)
    info = json.loads(files["ssl_skel.json"])
    assert info["encoder"] == "stgcn" and info["modality"] == "joint" and info["output"]["shape"] == ["N", 8]


def test_a_graph_that_does_not_generalise_is_not_written(checkpoints):
    """The writers run the graph at another batch size: a trace that baked in a shape is refused."""

    class BatchDependent(FeatureFunction):
        def forward(self, x):
            features = super().forward(x)
            return features * 2 if x.shape[0] == 2 else features  # a Python branch: the trace keeps "* 2"

    function = BatchDependent(load_encoder(checkpoints["unified"]).encoder)
    with pytest.raises(ExportError, match="TorchScript graph disagrees with the encoder on a batch of 3 clips"):
        torchscript_bytes(function)


def test_onnx_without_its_packages_is_one_line(checkpoints, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    out = tmp_path / "enc.onnx"
    refused(capsys, str(checkpoints["stgcn"]), str(out), expect="pip install 'ssl-skel[export]'")
    assert not out.exists()


def test_safetensors_round_trip_gives_identical_features(checkpoints, tiny_data, tmp_path):
    from safetensors import safe_open

    for name, ckpt in checkpoints.items():
        out = export_encoder(ckpt, tmp_path / f"{name}.safetensors")
        source, copy = load_encoder(ckpt), load_encoder(out)
        x = source.prepare(builtin_clips(tiny_data, 4))
        for modality in source.modalities:
            assert torch.equal(copy.embed(x, modality), source.embed(x, modality))
        assert copy.spec == source.spec and copy.eval_view == source.eval_view
        assert copy.skeleton.parents == source.skeleton.parents
        # a plain safetensors file: weights under the encoder's own names, the rest as JSON metadata
        with safe_open(str(out), framework="pt") as fh:
            assert set(fh.keys()) == set(source.encoder.state_dict())
            meta = json.loads(fh.metadata()["ssl_skel"])
        original = load_checkpoint(ckpt)
        assert meta["kind"] == "encoder" and meta["encoder"]["prefix"] == ""
        assert meta["encoder"]["name"] == name and meta["config"]["model"] == original["config"]["model"]
        assert meta["source"] == {"checkpoint": str(ckpt), "kind": "pretrain"}
        assert not zipfile.is_zipfile(out)  # no torch.save archive, so no pickle


def test_safetensors_export_feeds_the_evaluation_commands(checkpoints, tmp_path, capsys):
    out = export_encoder(checkpoints["unified"], tmp_path / "enc.safetensors")
    assert main(["info", str(out)]) == 0
    assert "unified" in capsys.readouterr().out
    again = export_encoder(out, tmp_path / "again.pt")  # an export of an export
    x = torch.randn(2, 3, 16, 25, 2)
    assert torch.equal(load_encoder(again).embed(x), load_encoder(checkpoints["unified"]).embed(x))


def test_damaged_and_foreign_safetensors_are_one_line_errors(checkpoints, tmp_path):
    from safetensors.torch import save_file

    good = export_encoder(checkpoints["unified"], tmp_path / "enc.safetensors").read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.safetensors: truncated or corrupt safetensors file"):
        load_encoder(cut)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=r"foreign\.safetensors: a safetensors file without ssl_skel metadata"):
        load_encoder(foreign)
    save_file({"w": torch.zeros(2)}, str(foreign), metadata={"ssl_skel": "{not json"})
    with pytest.raises(CheckpointError, match="is not valid JSON"):
        load_encoder(foreign)
    save_file({"w": torch.zeros(2)}, str(foreign), metadata={"ssl_skel": json.dumps({"format": "ssl_skel/checkpoint"})})
    with pytest.raises(CheckpointError, match="version None"):
        load_encoder(foreign)


def test_cli_writes_each_format(checkpoints, tmp_path, capsys):
    ckpt = checkpoints["stgcn"]
    rc, out, err = cli(capsys, str(ckpt), str(tmp_path / "enc.bin"), "--format", "safetensors")
    assert rc == 0, err
    assert "(safetensors," in out and load_encoder(tmp_path / "enc.bin").dim == 8
    rc, out, _ = cli(capsys, str(ckpt), str(tmp_path / "enc.pt"))
    assert rc == 0 and "(pt," in out and load_checkpoint(tmp_path / "enc.pt")["kind"] == "encoder"
    refused(capsys, str(ckpt), str(tmp_path / "x.pt"), "--format", "tflite", expect="invalid choice: 'tflite'")


# --------------------------------------------------------------------------- bad targets (issue 25)
def test_an_existing_file_is_kept_unless_force(checkpoints, tmp_path, capsys):
    ckpt = checkpoints["unified"]
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    refused(capsys, str(ckpt), str(notes), expect=f"{notes}: exists; pass --force to overwrite it")
    assert notes.read_text() == "my notes"
    rc, _, err = cli(capsys, str(ckpt), str(notes), "--force")
    assert rc == 0, err
    assert load_checkpoint(notes)["kind"] == "encoder"
    # an earlier export is an ordinary file: refused, then replaced with --force
    earlier = export_encoder(ckpt, tmp_path / "enc.onnx", "torchscript")
    before = earlier.read_bytes()
    with pytest.raises(ExportError, match="exists; pass --force"):
        export_encoder(ckpt, earlier, "torchscript")
    assert earlier.read_bytes() == before
    export_encoder(ckpt, earlier, "pt", force=True)
    assert load_checkpoint(earlier)["kind"] == "encoder"


def test_the_source_is_never_overwritten(checkpoints, tmp_path, capsys):
    src = tmp_path / "run" / "last.pt"
    src.parent.mkdir()
    src.write_bytes(checkpoints["unified"].read_bytes())
    before = src.read_bytes()
    for extra in ([], ["--force"]):
        refused(capsys, str(src), str(src), *extra, expect=f"{src}: is the checkpoint being exported")
    link = tmp_path / "link.pt"
    link.symlink_to(src)
    refused(capsys, str(src), str(link), "--force", expect="is the checkpoint being exported")
    os.link(src, tmp_path / "hard.pt")
    refused(capsys, str(src), str(tmp_path / "hard.pt"), "--force", expect="is the checkpoint being exported")
    assert src.read_bytes() == before and load_checkpoint(src)["kind"] == "pretrain"


@pytest.mark.parametrize("kind", ["pretrain", "finetune", "fusion"])
def test_a_run_checkpoint_is_never_overwritten(kind, checkpoints, tmp_path, capsys):
    run = load_checkpoint(checkpoints["stgcn"])
    other = save_checkpoint({**run, "kind": kind}, tmp_path / "epoch_0004.pt")
    before = other.read_bytes()
    for fmt in ("pt", "safetensors"):
        refused(
            capsys,
            str(checkpoints["unified"]),
            str(other),
            "--force",
            "--format",
            fmt,
            expect=f"{other}: is a {kind} checkpoint of a run; export never overwrites one, even with --force",
        )
    assert other.read_bytes() == before


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_device_is_refused(checkpoints, capsys):
    for force in ([], ["--force"]):
        refused(capsys, str(checkpoints["unified"]), "/dev/full", *force, expect="/dev/full: is not a regular file")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_pipe_is_refused(checkpoints, tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused(capsys, str(checkpoints["unified"]), str(fifo), "--force", expect=f"{fifo}: is not a regular file")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_folder_is_refused(checkpoints, tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    refused(capsys, str(checkpoints["unified"]), str(folder), "--force", expect=f"{folder}: is a folder")
    assert folder.is_dir() and not any(folder.iterdir())


def test_a_path_below_a_file_is_refused(checkpoints, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "sub" / "enc.pt"
    refused(capsys, str(checkpoints["unified"]), str(out), expect=f"{tmp_path / 'file'} is not a folder")


def test_an_unwritable_place_is_one_line(checkpoints, tmp_path, capsys, monkeypatch):
    def denied(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr("ssl_skel.core.io._create_temporary", denied)
    for fmt in ("pt", "onnx"):
        out = tmp_path / f"enc.{fmt}"
        refused(capsys, str(checkpoints["stgcn"]), str(out), expect=f"{out}: cannot write (Permission denied)")


def test_a_failed_write_leaves_the_old_file(checkpoints, tmp_path, capsys, monkeypatch):
    """The write is atomic: a disk that fills half-way leaves the earlier file and no temporary behind."""
    out = tmp_path / "enc.pt"
    out.write_bytes(b"earlier export")

    def half_written(obj, fh, *args, **kwargs):
        fh.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("ssl_skel.core.checkpoint.torch.save", half_written)
    refused(capsys, str(checkpoints["unified"]), str(out), "--force", expect="no space left on the device")
    assert out.read_bytes() == b"earlier export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc.pt"]
