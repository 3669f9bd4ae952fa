"""`ssl-skel gendata <format> ...`: make a dataset folder.

One subcommand per entry of the format registry (`ssl_skel.data.formats.registry.CONVERTERS`):
its raw input (`--raw`, `--pkl`, ... as the entry names it), `--out`, and one flag per field of
its options dataclass. Parsing builds that dataclass and calls the entry's `convert`; the
`data_gen/*.py` scripts call this same entry point, so both routes behave identically.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ssl_skel.commands import ArgumentParser
from ssl_skel.data.formats.options import Flag, flag_of
from ssl_skel.data.formats.registry import CONVERTERS, Converter, Input

log = logging.getLogger("ssl_skel.gendata")

VALUE_TYPES = (bool, int, float, Path, str)  # what a field's annotation may resolve to on the command line


def _at_least(minimum: int) -> Callable[[str], int]:
    def _positive(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return _positive


def _value_type(annotation: Any, flag: Flag) -> type:
    """The command-line type of a field: of its choices, else the first of VALUE_TYPES in its annotation."""
    if flag.choices:
        return type(flag.choices[0])
    union = isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
    for arg in typing.get_args(annotation) if union else (annotation,):
        if arg in VALUE_TYPES:
            return arg
    return str


def _add_inputs(p: argparse.ArgumentParser, inputs: tuple[Input, ...]) -> None:
    """The raw input (dest `raw`): one flag or positional, or a required choice between several flags; none for
    an entry that reads nothing."""
    if len(inputs) == 1 and not inputs[0].flag.startswith("-"):
        p.add_argument("raw", metavar=inputs[0].flag, type=Path, help=inputs[0].help)
    elif len(inputs) == 1:
        p.add_argument(inputs[0].flag, dest="raw", metavar=_metavar(inputs[0].flag), type=Path, required=True,
                       help=inputs[0].help)  # fmt: skip
    elif inputs:
        choice = p.add_mutually_exclusive_group(required=True)
        for inp in inputs:
            choice.add_argument(inp.flag, dest="raw", metavar=_metavar(inp.flag), type=Path, help=inp.help)


def _metavar(flag: str) -> str:
    """What argparse would show for `flag` were it also the destination: --missing -> MISSING."""
    return flag.lstrip("-").replace("-", "_").upper()


def _add_options(p: argparse.ArgumentParser, options: type) -> None:
    """One flag per `option(...)` field of the options dataclass, in field order."""
    hints = typing.get_type_hints(options)
    groups: dict[str, Any] = {}
    for field in dataclasses.fields(options):
        flag = flag_of(field)
        if flag is None:
            continue
        if flag.group is not None and flag.group not in groups:
            groups[flag.group] = p.add_mutually_exclusive_group()
        target = p if flag.group is None else groups[flag.group]
        kind = _value_type(hints[field.name], flag)
        name = flag.name_for(field.name)
        kw: dict[str, Any] = {"dest": field.name, "help": flag.help}
        if kind is bool:
            kw.update(action="store_false" if flag.negate else "store_true", default=field.default)
        else:
            kw.update(type=_at_least(flag.minimum) if flag.minimum is not None else kind)
            if flag.choices is not None:
                kw["choices"] = flag.choices
            else:
                kw["metavar"] = flag.metavar or _metavar(name)
            if field.default is dataclasses.MISSING or flag.required:
                kw["required"] = True
            else:
                kw["default"] = field.default
        target.add_argument(name, **kw)


def _add_subcommand(sub: argparse._SubParsersAction, conv: Converter) -> None:
    p = sub.add_parser(conv.name, help=conv.help)
    _add_inputs(p, conv.inputs)
    p.add_argument("--out", required=True, type=Path, help="output dataset folder")
    _add_options(p, conv.options)


def build_parser() -> argparse.ArgumentParser:
    names = ",".join(CONVERTERS)
    description = f"`ssl-skel gendata {{{names}}} ...`: make a dataset folder."
    parser = ArgumentParser(prog="ssl-skel gendata", description=description)
    sub = parser.add_subparsers(dest="source", required=True, metavar="{" + names + "}")
    for conv in CONVERTERS.values():
        _add_subcommand(sub, conv)
    return parser


def options_from_args(conv: Converter, args: argparse.Namespace) -> Any:
    """The entry's options dataclass from the parsed flags."""
    return conv.options(**{f.name: getattr(args, f.name) for f in dataclasses.fields(conv.options) if flag_of(f)})


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    conv = CONVERTERS[args.source]
    options = options_from_args(conv, args)
    report = conv.convert(getattr(args, "raw", None), args.out, options)
    print(conv.describe(report, options))
    return 0
