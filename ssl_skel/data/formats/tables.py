"""The generic importer's table: one row per clip (name, label, split or group columns) -> labels and splits.

Splits (a `SplitRule`): per clip from a split column (train/test/val); "train on these groups, the rest is
test" (`train_on=("subject", ("1", "2"))`, or the text "subject=1,2"); or folds, one benchmark per value of
a fold column (fold1, ...) testing on that fold. Row problems (no label, unknown label, no split) raise
ClipError: the clip is bad, named with the reason; table problems raise DataFormatError.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssl_skel.data.formats.clip_files import ARRAY_KEYS
from ssl_skel.data.prepare import ClipError
from ssl_skel.data.storage import DataFormatError

PART_NAMES = {"train": "train", "test": "test", "val": "test"}


@dataclass(frozen=True)
class SplitRule:
    """How clips become benchmark splits: a split column, a train-on rule, or folds."""

    column: str | None = "split"  # values train / test / val
    train_on: tuple[str, tuple[str, ...]] | None = None  # (group column, values trained on)
    fold_column: str | None = None  # one benchmark per fold value
    benchmark: str = "default"


def parse_train_on(text: str) -> tuple[str, tuple[str, ...]]:
    """'subject=1,2,4' -> ('subject', ('1', '2', '4'))."""
    column, sep, values = text.partition("=")
    if not sep or not column.strip() or not values.strip():
        raise DataFormatError(f"--train-on {text!r}: expected COLUMN=VALUE,VALUE,... (e.g. subject=1,2,4)")
    return column.strip(), tuple(v.strip() for v in values.split(",") if v.strip())


def read_table(path: Path) -> list[dict[str, str]]:
    """A CSV table -> its rows as {column: value}, stripped; DataFormatError (one line naming `path`) when it is
    unreadable, empty, not UTF-8 text (a UTF-8 byte-order mark is allowed), repeats a column name, or has a row
    with more values than the header (short rows are padded with empty values)."""
    text = read_text_file(path, "table")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader, [])]
        named = [name for name in header if name]
        if len(set(named)) != len(named):
            dup = next(name for name, count in Counter(named).items() if count > 1)
            raise DataFormatError(f"{path}: column {dup!r} appears twice in the header; keep one of them")
        rows = []
        for values in reader:
            if not values:
                continue
            if len(values) > len(header) and any(v.strip() for v in values[len(header) :]):
                raise DataFormatError(
                    f"{path}: line {reader.line_num} has {len(values)} values, the header has {len(header)} "
                    "(a comma inside a value needs quotes)"
                )
            values = values + [""] * (len(header) - len(values))
            rows.append({name: value.strip() for name, value in zip(header, values)})
    except csv.Error as exc:
        raise DataFormatError(f"{path}: not a readable CSV table (line {reader.line_num}: {exc})") from None
    if not rows:
        raise DataFormatError(f"{path}: the table has no rows")
    return rows


def read_text_file(path: Path, what: str) -> str:
    """A small text file a user wrote (a table, a class list) as text; DataFormatError naming it when it is not a
    regular file or not UTF-8 text. A UTF-8 byte-order mark (spreadsheet exports write one) is dropped."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise DataFormatError(f"{path}: not a regular file (a folder, pipe or device); the {what} must be a file")
        payload = Path(path).read_bytes()
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if b"\0" in payload:
        raise DataFormatError(f"{path}: holds NUL bytes (a binary file, not a {what} of text)")
    try:
        return payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            f"{path}: not UTF-8 text (byte 0x{payload[exc.start]:02x} at offset {exc.start}); save the {what} as UTF-8"
        ) from None


def columns_from_npz(path: Path) -> list[dict[str, str]] | None:
    """The table an `.npz` carries: its 1-D arrays as long as the data (`labels` read as `label`), or None."""
    if path.suffix.lower() != ".npz":
        return None
    with np.load(path, allow_pickle=False) as z:
        key = next((k for k in ARRAY_KEYS if k in z.files), None)
        n = len(z[key]) if key else 0
        cols = {k: z[k] for k in z.files if k != key and z[k].ndim == 1 and len(z[k]) == n}
    if not cols:
        return None
    if "labels" in cols and "label" not in cols:
        cols["label"] = cols.pop("labels")
    return [{k: str(v[i]) for k, v in cols.items()} for i in range(n)]


def label_of(row: dict[str, str], column: str, classes: list[str] | None) -> str:
    """The row's label text, checked against `classes` when given."""
    if column not in row or row[column] == "":
        raise ClipError(f"no label (column {column!r} is empty)")
    label = row[column]
    if classes is not None and label not in classes:
        raise ClipError(f"unknown label {label!r} (classes: {', '.join(classes)})")
    return label


def part_of(row: dict[str, str], rule: SplitRule) -> dict[str, str]:
    """{benchmark: part} for one row, or {} for folds (computed over all rows)."""
    if rule.fold_column is not None:
        if not row.get(rule.fold_column):
            raise ClipError(f"missing split (fold column {rule.fold_column!r} is empty)")
        return {}
    if rule.train_on is not None:
        column, values = rule.train_on
        if not row.get(column):
            raise ClipError(f"missing split (group column {column!r} is empty)")
        return {rule.benchmark: "train" if row[column] in values else "test"}
    value = row.get(rule.column or "", "").lower()
    if not value:
        raise ClipError(f"missing split (column {rule.column!r} is empty)")
    if value not in PART_NAMES:
        raise ClipError(f"split {value!r} is not train, test or val")
    return {rule.benchmark: PART_NAMES[value]}


def _fold_name(value: str) -> str:
    return f"fold{value}" if value.isdigit() else value


def make_splits(rows: list[dict[str, str]], parts: list[dict[str, str]], rule: SplitRule) -> dict:
    """{benchmark: {"train": rows, "test": rows}} from each row's parts (`part_of`), or from the fold column."""
    out: dict[str, dict[str, list[int]]] = {}
    if rule.fold_column is not None:
        values = [r[rule.fold_column] for r in rows]
        for f in sorted(set(values), key=lambda f: (not f.isdigit(), int(f) if f.isdigit() else 0, f)):
            out[_fold_name(f)] = {
                "train": [i for i, x in enumerate(values) if x != f],
                "test": [i for i, x in enumerate(values) if x == f],
            }
        return out
    for i, p in enumerate(parts):
        for bench, part in p.items():
            out.setdefault(bench, {"train": [], "test": []})[part].append(i)
    return out


def label_ids(labels: list[str], classes: list[str] | None) -> tuple[list[int], list[str] | None]:
    """Label texts -> (0-based ids, class names): the `classes` order, integer labels as they are, else sorted."""
    if classes is not None:
        return [classes.index(x) for x in labels], list(classes)
    if all(x.lstrip("-").isdigit() for x in labels):
        ids = [int(x) for x in labels]
        if min(ids) < 0:
            raise DataFormatError(f"label {min(ids)} is negative (integer labels are 0-based class indices)")
        return ids, None
    names = sorted(set(labels))
    return [names.index(x) for x in labels], names


def read_classes(spec: str | Sequence[str] | None) -> list[str] | None:
    """--classes: comma-separated names, or a file with one name per line."""
    if spec is None:
        return None
    if not isinstance(spec, str):
        return [str(s) for s in spec]
    if Path(spec).is_file():
        return [line.strip() for line in read_text_file(Path(spec), "class list").splitlines() if line.strip()]
    return [s.strip() for s in spec.split(",") if s.strip()]
