"""Open a split of any dataset folder the toolkit reads: native, or a legacy layout used in place.

Why a module of its own: the native format (`storage`) knows nothing of the readers in
`formats/`, and the legacy readers write the native format, so the choice between them
sits one level above both.
"""

from __future__ import annotations

from pathlib import Path

from ssl_skel.data.formats import legacy
from ssl_skel.data.storage import SkeletonArrays, check_part, open_native


def open_arrays(root: str | Path, benchmark: str, part: str) -> SkeletonArrays:
    """One split (`part`: train or test) of `benchmark` in the dataset at `root`."""
    root = Path(root)
    check_part(root, part)
    if not (root / "manifest.json").exists() and legacy.detect(root):
        return legacy.open_legacy(root, benchmark, part)
    return open_native(root, benchmark, part)
