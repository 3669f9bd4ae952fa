"""Converter options: typed dataclass fields that also say how `ssl-skel gendata` spells them.

Why here: each converter's options dataclass is the one declaration of what it can be told,
for Python callers and the command line alike; `commands/gendata.py` turns the fields into
arguments (nothing here parses). A field made with `option(...)` carries a `Flag` in its
metadata; a plain field (e.g. what one reader passes to another) stays off the command line.
A field's own type decides the argument's: bool -> a switch, int / Path / str -> a value.

The flags shared by several converters (layout, normalisation, workers, ...) are made by the
small factories below, so their wording is written once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from ssl_skel.data.layouts import LAYOUTS
from ssl_skel.data.prepare import CENTRES, MISSING, SCALES

OptionsT = TypeVar("OptionsT")

CLI = "cli"  # the metadata key of a Flag


@dataclass(frozen=True)
class Flag:
    """How one option field appears on the command line."""

    help: str | None = None
    flag: str | None = None  # default: "--" + the field name with "-" for "_"
    choices: tuple[Any, ...] | None = None
    negate: bool = False  # a switch that turns the (True) default off: --no-progress -> progress=False
    required: bool = False  # required on the command line although Python has a default (an explicit choice)
    minimum: int | None = None  # an int of at least this
    group: str | None = None  # flags of one group are mutually exclusive
    metavar: str | None = None

    def name_for(self, field_name: str) -> str:
        return self.flag or "--" + field_name.replace("_", "-")


def option(default: Any = dataclasses.MISSING, help: str | None = None, **flag: Any) -> Any:
    """A dataclass field with a default (none: required) and its command-line `Flag`."""
    return dataclasses.field(default=default, metadata={CLI: Flag(help=help, **flag)})


def flag_of(f: dataclasses.Field) -> Flag | None:
    return f.metadata.get(CLI)


def with_overrides(cls: type[OptionsT], options: OptionsT | None, overrides: dict[str, Any]) -> OptionsT:
    """`options` (default: `cls()`) with the named fields replaced; TypeError on a name `cls` does not have."""
    if options is not None and not isinstance(options, cls):
        raise TypeError(f"options must be a {cls.__name__}, got {type(options).__name__}")
    if options is None:
        return cls(**overrides)
    return dataclasses.replace(options, **overrides)


# --------------------------------------------------------------------------- shared flags
def layout_option() -> Any:
    return option(
        None,
        f"skeleton layout: a built-in name ({', '.join(LAYOUTS)}) or a layout file (.yaml); without it, only an "
        "unambiguous joint count is accepted",
    )


def joint_order_option() -> Any:
    return option(
        None,
        "the files' joint order as the layout's joint names or indices, comma-separated (file position i "
        "holds the i-th listed joint)",
    )


def centre_option(default: str, help: str | None = None, required: bool = False) -> Any:
    text = help or (
        "origin at the layout's centre joint of the first present person: in its first frame, in every frame, "
        f"or no centring{'' if required else f' (default {default})'}"
    )
    return option(default, text, choices=CENTRES, required=required)


def align_view_option(help: str = "3D: rotate each clip by the layout's view bones") -> Any:
    return option(False, help)


def scale_option(default: str = "none", help: str = "rms: divide by the clip's RMS radius") -> Any:
    return option(default, help, choices=SCALES)


def score_option() -> Any:
    return option(False, "the last channel is a confidence score (not centred)")


def missing_option() -> Any:
    return option(
        "bad", "NaN joints: the clip is bad (default), or fill them by interpolation in time", choices=MISSING
    )


def zero_missing_option() -> Any:
    return option(False, "an all-zero joint is missing (OpenPose style)")


def workers_option(help: str | None = "parallel processes (default 1)") -> Any:
    return option(1, help, minimum=1)


def skip_bad_option(help: str | None = None) -> Any:
    return option(False, help)


def progress_option() -> Any:
    return option(True, "no progress bar", flag="--no-progress", negate=True)


def trust_pickle_option() -> Any:
    return option(
        None,
        "unpickle any object the file names (this can run code from it: only for files you trust); "
        "by default only plain containers, numbers, strings and numpy arrays are read",
        flag="--trust-pickle",
    )
