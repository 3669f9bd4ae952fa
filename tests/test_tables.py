"""The generic importer's clip table (issue 25 items 5 and 13): a CSV that is not what it seems is refused with
one line naming the file (duplicate columns, rows longer than the header, not UTF-8, NUL bytes), and a UTF-8
byte-order mark is read as what it is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from layout_samples import write_lab5

from ssl_skel.cli import main as cli
from ssl_skel.data.formats.tables import read_table
from ssl_skel.data.sources import open_arrays
from ssl_skel.data.storage import DataFormatError

TABLE = "clip,label,split\na,walk,train\nb,run,test\nc,walk,test\nd,run,train\n"


def clips(tmp_path: Path) -> Path:
    folder = tmp_path / "clips"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in "abcd":
        np.save(folder / f"{name}.npy", (rng.normal(size=(6, 5, 3)) + 1).astype(np.float32))
    return folder


def gendata(tmp_path: Path, table: Path, capsys) -> tuple[int, str]:
    layout = str(write_lab5(tmp_path))
    argv = ["gendata", "arrays", "--folder", str(clips(tmp_path)), "--out", str(tmp_path / "out"),
            "--table", str(table), "--layout", layout, "--centre", "first", "--no-progress"]  # fmt: skip
    rc = cli(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, [line for line in err.splitlines() if "error:" in line]


@pytest.mark.parametrize(
    "payload, problem",
    [
        (b"clip,label,split,label\na,walk,train,x\nb,run,test,x\n", "column 'label' appears twice"),
        (b"clip,label,split\na,walk,train\nb,run,test,extra,more\n", "line 3 has 5 values, the header has 3"),
        ("clip,label,split\na,gehen,train\nb,laufen\xe9,test\n".encode("latin-1"), "not UTF-8 text"),
        (bytes(range(1, 256)) * 4, "not UTF-8 text"),
        (b"clip,label,split\na,walk\x00,train\n", "NUL"),
    ],
)
def test_a_table_that_is_not_what_it_seems_is_one_line(tmp_path, capsys, payload, problem):
    table = tmp_path / "t.csv"
    table.write_bytes(payload)
    with pytest.raises(DataFormatError, match=rf"^{table}: .*{problem}"):
        read_table(table)
    rc, errors = gendata(tmp_path, table, capsys)
    assert rc == 2 and len(errors) == 1 and str(table) in errors[0] and problem in errors[0], errors
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column(tmp_path, capsys):
    table = tmp_path / "t.csv"
    table.write_bytes(b"\xef\xbb\xbf" + TABLE.encode())
    assert list(read_table(table)[0]) == ["clip", "label", "split"]
    rc, errors = gendata(tmp_path, table, capsys)
    assert rc == 0, errors
    arrays = open_arrays(tmp_path / "out", "default", "train")
    assert sorted(arrays.names) == ["a", "b", "c", "d"] and arrays.class_names == ["run", "walk"]


def test_duplicate_label_columns_no_longer_label_every_clip_with_the_last(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("clip,label,split,label\na,walk,train,x\nb,run,test,x\n")
    with pytest.raises(DataFormatError, match="column 'label' appears twice"):
        read_table(table)


def test_short_rows_and_a_plain_table_still_read(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("clip,label,split\na,walk,train\nb,run\n\n")
    assert read_table(table) == [
        {"clip": "a", "label": "walk", "split": "train"},
        {"clip": "b", "label": "run", "split": ""},
    ]
