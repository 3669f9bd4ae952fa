"""The README's promise for every command: a user error prints one line naming the problem and exits 2.

Issue 14 items 10-12: each bad input that used to end in a traceback (or a hang) is reproduced
here through the CLI, and every command in `ssl_skel.cli.COMMANDS` is walked with bad arguments.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from eval_helpers import SPEC, tiny_config, tiny_encoder, write_checkpoint

from ssl_skel.cli import COMMANDS, main
from ssl_skel.data.storage import write_arrays

REPO = Path(__file__).resolve().parent.parent
PROGRESS = re.compile(r"^\s*[\w ]*features:?\s+\d+%|\d+it \[|it/s\]|s/it\]")  # tqdm bars (erased on a terminal)


def one_line_error(capsys, argv: list[str], *expect: str) -> str:
    """Run the CLI in-process: exit status 2, exactly one stderr line, no traceback, `expect` in it."""
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse
        rc = exc.code
    out, err = capsys.readouterr()
    assert rc == 2, (argv, rc, out, err)
    lines = [line for line in err.splitlines() if line.strip() and not PROGRESS.search(line)]
    assert len(lines) == 1, (argv, err)
    assert "Traceback" not in err
    for text in expect:
        assert text in lines[0], (argv, lines[0])
    return lines[0]


def _arrays(root: Path, *, n: int = 8, train=None, test=None, data=None, labels=None) -> Path:
    """A small ntu25 dataset (3 channels, 16 frames, 2 persons) written without the converters' checks."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3, 16, 25, 2)).astype(np.float32) if data is None else data
    return write_arrays(
        root,
        x,
        labels=list(np.arange(n) % 2) if labels is None else labels,
        num_frames=[16] * n,
        names=[f"s{i}" for i in range(n)],
        splits={
            "xsub": {
                "train": list(range(n // 2)) if train is None else train,
                "test": list(range(n // 2, n)) if test is None else test,
            }
        },
        layout="ntu25",
    )


@pytest.fixture()
def checkpoint(tmp_path: Path) -> Path:
    return write_checkpoint(tmp_path / "ck.pt", tiny_encoder(), config=tiny_config(str(tmp_path / "data")))


# --------------------------------------------------------------------------- walk every command
BAD_CALLS = {
    "gendata": [
        ["--bogus"],
        ["ntu"],
        ["ntu", "--raw", "/nonexistent", "--out", "{tmp}/o", "--dataset", "ntu60"],
        ["pyskl", "--pkl", "/nonexistent.pkl", "--out", "{tmp}/o"],
        ["import", "/nonexistent", "--out", "{tmp}/o"],
        ["ucla", "--raw", "/nonexistent", "--out", "{tmp}/o"],
        ["synthetic", "--out", "{tmp}/o", "--seed", "x"],
    ],
    "pretrain": [["--bogus"], [], ["--config", "/nonexistent.yaml"], ["--config", "synthetic", "--device", "tpu"]],
    "linear": [["--bogus"], [], ["--checkpoint", "/nonexistent.pt"]],
    "knn": [["--bogus"], [], ["--checkpoint", "/nonexistent.pt"]],
    "semi": [["--bogus"], [], ["--checkpoint", "/nonexistent.pt"]],
    "finetune": [["--bogus"], [], ["--checkpoint", "/nonexistent.pt"]],
    "supervised": [
        ["--bogus"],
        [],
        ["--config", "/nonexistent.yaml"],
        ["--config", "synthetic"],  # a self-supervised preset
        ["--config", "nwucla_ctrgcn", "--stop-after-epoch", "0"],
    ],
    "ensemble": [["--bogus"], [], ["/nonexistent.npy"]],
    "export": [["--bogus"], [], ["/nonexistent.pt", "{tmp}/enc.pt"]],
    "fusion": [["--bogus"], [], ["--config", "/nonexistent.yaml"]],
    "info": [["--bogus"], [], ["/nonexistent"]],
    "report": [["--bogus"], [], ["/nonexistent"]],
    "import-weights": [["--bogus"], [], ["umurl", "/nonexistent.pth.tar", "{tmp}/o.pt"], ["mine", "a", "b"]],
}


def test_every_command_is_walked():
    assert set(BAD_CALLS) == set(COMMANDS), "a new command needs its bad-argument cases here"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_answers_bad_arguments_with_one_line(command, tmp_path, capsys):
    for args in BAD_CALLS[command]:
        one_line_error(capsys, [command, *(a.replace("{tmp}", str(tmp_path)) for a in args)])
    with pytest.raises(SystemExit) as info:  # --help still shows the whole usage
        main([command, "--help"])
    assert info.value.code == 0 and "usage:" in capsys.readouterr().out


def test_unknown_command(capsys):
    assert main(["nosuch"]) == 2
    assert "unknown command 'nosuch'" in capsys.readouterr().err
    # the real-data benchmark is an experiment driver outside the package (benchmarks/real_data.py)
    assert main(["benchmark"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'benchmark'" in err and "benchmarks/real_data.py" in err


# --------------------------------------------------------------------------- item 11: tracebacks
@pytest.mark.parametrize(
    ("override", "expect"),
    [
        ("seed=-1", "seed"),
        ("seed=12345678901234567890", "seed"),
        ("data.clip_length=100000", "clip_length"),
    ],
)
def test_out_of_range_settings(override, expect, tmp_path, capsys):
    one_line_error(capsys, ["pretrain", "--config", "synthetic", f"run_dir={tmp_path / 'r'}", override], expect)


def test_bad_config_files(tmp_path, capsys):
    folder = tmp_path / "cfgdir"
    folder.mkdir()
    one_line_error(capsys, ["pretrain", "--config", str(folder)], "cfgdir")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    one_line_error(capsys, ["pretrain", "--config", str(binary)], "bin.yaml", "not a text file")
    deep = tmp_path / "deep.yaml"
    deep.write_text("data: " + "[" * 5000 + "]" * 5000 + "\n")
    one_line_error(capsys, ["pretrain", "--config", str(deep)], "deep.yaml", "nested")
    for name in ("info", "fusion"):
        args = ["info", str(deep)] if name == "info" else ["fusion", "--config", str(deep)]
        one_line_error(capsys, args, "deep.yaml")


def test_yaml_alias_bombs(tmp_path, capsys):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
    )
    path = tmp_path / "bomb.yaml"
    path.write_text("base: synthetic\nmodel:\n  params:\n    " + bomb.replace("\n", "\n    ").rstrip() + "\n")
    one_line_error(capsys, ["pretrain", "--config", str(path)], "bomb.yaml", "aliases")
    one_line_error(capsys, ["info", str(path)], "bomb.yaml", "aliases")
    inline = (
        "{"
        + ", ".join(["x: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [f"x{i}: &a [*a, *a, *a, *a, *a, *a]" for i in range(9)])
        + "}"
    )
    one_line_error(capsys, ["pretrain", "--config", "synthetic", f"model.params={inline}"], "override model.params")
    loop = tmp_path / "loop.yaml"
    loop.write_text("base: synthetic\nmodel:\n  params: &p\n    hidden_size: 16\n    again: *p\n")
    one_line_error(capsys, ["pretrain", "--config", str(loop)], "loop.yaml", "recursive")


def test_run_dir_that_is_a_file(tmp_path, capsys):
    data = _arrays(tmp_path / "data", n=8)
    afile = tmp_path / "afile"
    afile.write_text("mine")
    one_line_error(
        capsys,
        [
            "pretrain",
            "--config",
            "synthetic",
            f"data.root={data}",
            f"run_dir={afile}",
            "data.clip_length=16",
            "data.num_workers=0",
            "train.batch_size=2",
            "model.params.hidden_size=16",
            "model.params.num_heads=1",
        ],
        "afile",
        "is a file",
    )
    assert afile.read_text() == "mine"


@pytest.mark.parametrize("device", ["tpu", "cuda:99", "nonsense:0"])
def test_devices_this_machine_lacks(device, tmp_path, capsys, checkpoint):
    one_line_error(capsys, ["pretrain", "--config", "synthetic", "--device", device], "--device")
    one_line_error(capsys, ["knn", "--checkpoint", str(checkpoint), "--device", device], "--device")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_cpu_machine(capsys, checkpoint):
    one_line_error(capsys, ["linear", "--checkpoint", str(checkpoint), "--device", "cuda"], "no usable CUDA")


def test_evaluation_on_bad_splits(tmp_path, capsys):
    empty_train = _arrays(tmp_path / "empty_train", train=[])
    ck = write_checkpoint(tmp_path / "ck1.pt", tiny_encoder(), config=tiny_config(str(empty_train)))
    for cmd in ("knn", "linear"):
        one_line_error(capsys, [cmd, "--checkpoint", str(ck), "--no-plots"], "split xsub train", "empty")
    empty_test = _arrays(tmp_path / "empty_test", test=[])
    ck = write_checkpoint(tmp_path / "ck2.pt", tiny_encoder(), config=tiny_config(str(empty_test)))
    for cmd in ("knn", "linear"):
        one_line_error(capsys, [cmd, "--checkpoint", str(ck), "--no-plots"], "split xsub test", "empty")
    out_of_range = _arrays(tmp_path / "oor", test=[4, 5, 99])
    ck = write_checkpoint(tmp_path / "ck3.pt", tiny_encoder(), config=tiny_config(str(out_of_range)))
    one_line_error(capsys, ["knn", "--checkpoint", str(ck), "--no-plots"], "sample index 99")
    bad_label = _arrays(tmp_path / "badlabel", labels=[0, 1, 0, 1, 0, 1, 0, -3])
    ck = write_checkpoint(tmp_path / "ck4.pt", tiny_encoder(), config=tiny_config(str(bad_label)))
    one_line_error(capsys, ["knn", "--checkpoint", str(ck), "--no-plots"], "label -3")


def test_nan_data_and_nan_weights_are_named(tmp_path, capsys):
    x = np.random.default_rng(0).normal(size=(8, 3, 16, 25, 2)).astype(np.float32)
    x[5, 0, 3] = np.nan
    data = _arrays(tmp_path / "nan", data=x)
    ck = write_checkpoint(tmp_path / "ck.pt", tiny_encoder(), config=tiny_config(str(data)))
    for cmd in ("knn", "linear"):
        one_line_error(capsys, [cmd, "--checkpoint", str(ck), "--no-plots"], "sample 5 (s5)", "NaN")
    # raised inside a data-loader worker: still the one original line, not the worker's traceback
    line = one_line_error(capsys, ["knn", "--checkpoint", str(ck), "--no-plots", "--num-workers", "1"], "sample 5 (s5)")
    assert line.startswith("ssl-skel knn: error: ") and "DataLoader" not in line
    good = _arrays(tmp_path / "good")
    encoder = tiny_encoder()
    with torch.no_grad():
        next(iter(encoder.parameters())).fill_(float("nan"))
    ck = write_checkpoint(tmp_path / "nanw.pt", encoder, config=tiny_config(str(good)))
    for cmd in ("knn", "linear"):
        one_line_error(capsys, [cmd, "--checkpoint", str(ck), "--no-plots"], "nanw.pt", "NaN/inf")


def test_pretrain_on_nan_data_names_the_sample(tmp_path, capsys):
    x = np.random.default_rng(0).normal(size=(8, 3, 16, 25, 2)).astype(np.float32)
    x[1, 2, 0, 0, 0] = np.inf
    data = _arrays(tmp_path / "nan", data=x)
    one_line_error(
        capsys,
        [
            "pretrain",
            "--config",
            "synthetic",
            f"data.root={data}",
            f"run_dir={tmp_path / 'run'}",
            "data.clip_length=16",
            "data.num_workers=0",
            "train.batch_size=2",
            "train.epochs=1",
            "model.params.hidden_size=16",
            "model.params.num_heads=1",
            "objective.params.proj_output_dim=16",
        ],
        "sample 1 (s1)",
        "NaN/inf",
    )


def test_checkpoint_with_an_absurd_spec(tmp_path, capsys):
    encoder = tiny_encoder()
    ck = write_checkpoint(tmp_path / "huge.pt", encoder, config=tiny_config(str(tmp_path)))
    payload = torch.load(ck, weights_only=True)
    payload["encoder"]["spec"]["clip_length"] = 10**9
    torch.save(payload, ck)
    one_line_error(capsys, ["knn", "--checkpoint", str(ck)], "huge.pt", "clip_length")
    one_line_error(capsys, ["export", str(ck), str(tmp_path / "e.pt")], "clip_length")


def test_info_into_a_closed_pipe(checkpoint):
    """`ssl-skel info CK | head -3`: the reader leaves early; one line, status 2, no BrokenPipeError traceback."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ssl_skel.cli", "info", str(checkpoint)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    proc.stdout.close()  # before the child has written anything (it is still importing torch)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 2, err
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert [line for line in err.splitlines() if "error" in line] == [
        "ssl-skel info: error: output pipe closed before the output was complete"
    ]


# --------------------------------------------------------------------------- item 12: messages
def test_amp_on_is_the_string_on(tmp_path):
    from ssl_skel.core.config import load_config

    assert load_config("synthetic", ["train.amp=on"]).train.amp == "on"
    assert load_config("synthetic", ["train.amp=off"]).train.amp == "off"
    preset = tmp_path / "p.yaml"
    preset.write_text("base: synthetic\ntrain:\n  amp: on\n  sync_batchnorm: true\n")
    cfg = load_config(preset)
    assert cfg.train.amp == "on" and cfg.train.sync_batchnorm is True


def test_checkpoint_messages(tmp_path, capsys, checkpoint):
    text = tmp_path / "notes.pt"
    text.write_text("hello, these are my notes\n")
    one_line_error(capsys, ["info", str(text)], "notes.pt: not a checkpoint file", "hello")
    evil = tmp_path / "evil.pt"
    torch.save({"format": "ssl_skel/checkpoint", "obj": SPEC.__class__}, evil)
    line = one_line_error(capsys, ["knn", "--checkpoint", str(evil)], "evil.pt", "could run code")
    assert "weights_only" not in line and "corrupt" not in line


def test_layout_file_alias_bomb(tmp_path, capsys):
    from ssl_skel.data.layouts import LayoutError, load_layout_file

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))
    )
    with pytest.raises(LayoutError, match=r"bomb\.yaml: expands to more than"):
        load_layout_file(bomb)


# --------------------------------------------------------------------------- issue 25 item 13: OS errors as one line
TINY_PRETRAIN = ["data.clip_length=16", "data.num_workers=0", "train.batch_size=2", "model.params.hidden_size=16",
                 "model.params.num_heads=1", "train.epochs=1"]  # fmt: skip


def test_a_900kb_name_is_one_short_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default run_dir is runs/<name>
    data = _arrays(tmp_path / "data", n=8)
    config = tmp_path / "long.yaml"
    config.write_text("base: synthetic\nname: " + "x" * 900_000 + "\n")
    line = one_line_error(capsys, ["pretrain", "--config", str(config), f"data.root={data}", *TINY_PRETRAIN], "name")
    assert len(line) < 1000, len(line)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def read_only(monkeypatch, folder: Path) -> None:
    """Writes under `folder` fail as on a read-only filesystem (EROFS); reads work (root ignores chmod)."""
    import builtins
    import errno
    import io

    prefix = str(folder.resolve())

    def below(path) -> bool:
        try:
            return os.path.abspath(os.fsdecode(path)).startswith(prefix)
        except TypeError:
            return False

    def refuse(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

    real_open, real_mkdir, real_builtin_open = os.open, os.mkdir, builtins.open
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def os_open(path, flags, *args, **kwargs):
        if flags & writing and below(path):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    def mkdir(path, *args, **kwargs):
        if below(path) and not os.path.isdir(path):
            refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def builtin_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+") and below(file):
            refuse(file)
        return real_builtin_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(builtins, "open", builtin_open)
    monkeypatch.setattr(io, "open", builtin_open)


def test_gendata_into_a_read_only_folder(tmp_path, capsys, monkeypatch):
    out = tmp_path / "ro"
    out.mkdir()
    read_only(monkeypatch, out)
    one_line_error(capsys, ["gendata", "synthetic", "--out", str(out), "--clips-per-class", "1", "--num-subjects", "2",
                            "--max-frames", "24"], str(out), "Read-only file system")  # fmt: skip


def test_knn_into_a_read_only_folder(tmp_path, capsys, monkeypatch, checkpoint):
    _arrays(tmp_path / "data", n=8)
    out = tmp_path / "ro"
    out.mkdir()
    read_only(monkeypatch, out)
    one_line_error(capsys, ["knn", "--checkpoint", str(checkpoint), "--out", str(out / "knn"), "--no-plots"],
                   str(out), "Read-only file system")  # fmt: skip


def test_out_below_a_file(tmp_path, capsys, checkpoint):
    _arrays(tmp_path / "data", n=8)
    afile = tmp_path / "afile"
    afile.write_text("mine")
    one_line_error(capsys, ["gendata", "synthetic", "--out", str(afile / "sub"), "--clips-per-class", "1",
                            "--num-subjects", "2", "--max-frames", "24"], str(afile), "not a folder")  # fmt: skip
    one_line_error(capsys, ["knn", "--checkpoint", str(checkpoint), "--out", str(afile / "sub"), "--no-plots"],
                   str(afile), "not a folder")  # fmt: skip
    assert afile.read_text() == "mine"


def test_knn_out_that_is_a_file(tmp_path, capsys, checkpoint):
    _arrays(tmp_path / "data", n=8)
    afile = tmp_path / "afile"
    afile.write_text("mine")
    one_line_error(capsys, ["knn", "--checkpoint", str(checkpoint), "--out", str(afile), "--no-plots"],
                   str(afile), "is a file")  # fmt: skip
    assert afile.read_text() == "mine"


@pytest.mark.parametrize("command", ["info", "export", "linear", "knn", "finetune", "semi"])
def test_checkpoint_errors_exit_2(command, tmp_path, capsys, checkpoint):
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(checkpoint.read_bytes()[:2000])
    argv = {"info": [str(damaged)], "export": [str(damaged), str(tmp_path / "enc.pt")]}.get(
        command, ["--checkpoint", str(damaged)]
    )
    one_line_error(capsys, [command, *argv], "damaged.pt", "truncated or corrupt checkpoint")
