"""The built-in procedural dataset (`ssl_skel.data.synthetic`) in the converters' shape, so the registry
(and `ssl-skel gendata synthetic`) treats it like any format: options dataclass in, report out.

It reads nothing: `raw` is None.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssl_skel.data.formats.common import check_out, conversion_lock
from ssl_skel.data.formats.options import option, with_overrides
from ssl_skel.data.layouts import NTU25
from ssl_skel.data.synthetic import generate_dataset, is_current, summary

LAYOUT = NTU25.name


@dataclass(frozen=True)
class SyntheticOptions:
    """The generator's settings (each field is also a `gendata synthetic` flag)."""

    seed: int = option(0)
    clips_per_class: int = option(160, minimum=1)
    num_subjects: int = option(20, minimum=1)
    max_frames: int = option(64, minimum=1)
    if_stale: bool = option(False, "do nothing when OUT already holds this version with these settings")

    def settings(self) -> dict[str, int]:
        return {
            "seed": self.seed,
            "clips_per_class": self.clips_per_class,
            "num_subjects": self.num_subjects,
            "max_frames": self.max_frames,
        }


@dataclass
class SyntheticReport:
    out: Path
    up_to_date: bool  # if_stale found the folder current: nothing was written
    summary: str = ""  # classes, clips, splits (synthetic.summary)
    seconds: float = 0.0


def make_synthetic(
    raw: None, out: str | Path, options: SyntheticOptions | None = None, **overrides: Any
) -> SyntheticReport:
    """Generate the built-in dataset into `out` (`raw` is unused: None).

    `options` (default SyntheticOptions()) with `overrides` replacing its fields by name.
    """
    opts = with_overrides(SyntheticOptions, options, overrides)
    if opts.if_stale and is_current(out, **opts.settings()):
        return SyntheticReport(Path(out), up_to_date=True)
    with conversion_lock(out):  # one writer at a time
        check_out(out)  # never over a user's files
        start = time.perf_counter()
        path = generate_dataset(out, **opts.settings())
    return SyntheticReport(path, False, summary(path), time.perf_counter() - start)
