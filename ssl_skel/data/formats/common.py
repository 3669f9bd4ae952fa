"""Helpers shared by the converters: safe file reading, parallel map with progress, bad-file summary; and, re-exported
here so a converter imports one module, the output folder policy (`output`: staged output, the swap, the conversion
lock) and the one validation of everything a converter publishes (`validation`). Pickles: `pickles.py`.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from ssl_skel.data import layouts
from ssl_skel.data.formats.output import (  # noqa: F401 - re-exported for the converters
    CONVERSION_LOCK,
    OURS,
    OUTPUT_FILES,
    OWNED_MARK,
    REPLACED,
    STAGING,
    check_out,
    conversion_lock,
    locks_output,
    publish,
    staged_writer,
)
from ssl_skel.data.formats.parallel import effective_workers, parallel_map  # noqa: F401 - re-exported
from ssl_skel.data.formats.validation import (  # noqa: F401 - re-exported for the converters
    MAX_CLASSES,
    MAX_COORDINATE,
    as_label,
    as_labels,
    check_coordinates,
    check_rows,
    iter_chunks,
    validate_dataset,
)
from ssl_skel.data.storage import DataFormatError

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


# --------------------------------------------------------------------------- reading input files
def find_files(root: str | Path, pattern: str) -> list[Path]:
    """Files whose name matches `pattern` under `root`, recursively, sorted by path components; an
    unreadable folder is an error. Names are matched and sorted as strings (Path objects are slow
    to sort by the tens of thousands)."""
    root = Path(root)

    def refuse(exc: OSError) -> None:
        raise DataFormatError(f"{exc.filename}: cannot read this folder ({exc.strerror}); fix its permissions")

    found: list[tuple[tuple[str, ...], str]] = []
    for folder, dirs, files in os.walk(root, onerror=refuse):
        dirs.sort()
        parts = tuple(Path(folder).parts)
        found += [((*parts, f), os.path.join(folder, f)) for f in fnmatch.filter(files, pattern)]
    found.sort()
    return [Path(path) for _, path in found]


def check_regular(path: str | Path) -> Path:
    """DataFormatError unless `path` is a regular file (a FIFO would block, a device never end)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise DataFormatError(f"{path}: not a regular file (a pipe, device or folder); refused")
    return path


# --------------------------------------------------------------------------- running converters
def report_bad(bad: Mapping[str, str], total: int, skip_bad: bool, what: str, hint: str = "") -> None:
    """Log each bad input; raise one summary DataFormatError unless `skip_bad`."""
    for _, reason in sorted(bad.items()):
        log.error("bad %s: %s", what, reason)
    if bad and not skip_bad:
        first = sorted(bad.items())[0][1]
        raise DataFormatError(
            f"{len(bad)} of {total} {what}s could not be read (first: {first}); no output was written. "
            f"Fix or remove them, or pass --skip-bad to convert the rest{hint}"
        )
    if bad:
        log.warning("skipped %d bad %s(s) of %d (--skip-bad)", len(bad), what, total)


def layout_for_joints(num_joints: int, where: str = "", dims: int | None = None) -> str:
    """The only built-in layout with `num_joints` joints (of `dims` coordinates); DataFormatError naming `where`
    when none or several fit (no silent guesses: see layouts.choose_layout)."""
    try:
        return layouts.layout_for_joints(num_joints, where, dims)
    except ValueError as exc:
        raise DataFormatError(str(exc)) from None
