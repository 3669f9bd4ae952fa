"""`ssl-skel <command> ...`: one entry point, each command in its own module.

Why: commands import heavy modules (torch, faiss, matplotlib) only when they run, so
`ssl-skel --help` is instant, and every command is a plain `main(argv) -> int` that
tests and notebooks can call directly. Errors the user can fix (bad config, bad file,
missing data) print one line and exit with status 2; Ctrl-C prints one line and exits with
130; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import logging
import os
import re
import sys
from collections.abc import Sequence

from ssl_skel.commands import UserError

TRUST_PICKLE = "--trust-pickle"

COMMANDS = {
    "gendata": ("ssl_skel.commands.gendata", "convert raw data or generate the built-in dataset"),
    "pretrain": ("ssl_skel.commands.pretrain", "self-supervised pretraining (run under torchrun for DDP)"),
    "linear": ("ssl_skel.commands.linear", "linear probe of a frozen encoder"),
    "knn": ("ssl_skel.commands.knn", "KNN retrieval with faiss on frozen features"),
    "semi": ("ssl_skel.commands.semi", "semi-supervised evaluation with 1%/10% of the labels"),
    "finetune": ("ssl_skel.commands.finetune", "supervised fine-tuning with a classification head"),
    "supervised": ("ssl_skel.commands.supervised", "train a supervised reference from scratch (nwucla_ctrgcn)"),
    "ensemble": ("ssl_skel.commands.ensemble", "combine saved class scores of several runs"),
    "export": ("ssl_skel.commands.export", "write an encoder-only file from a checkpoint"),
    "import-weights": ("ssl_skel.commands.import_weights", "convert the authors' released weights (umurl)"),
    "fusion": ("ssl_skel.commands.fusion", "train/evaluate RGB-D and pose fusion adapters"),
    "info": ("ssl_skel.commands.info", "describe a dataset folder, a config or a checkpoint"),
    "report": ("ssl_skel.commands.report", "print the evaluation results of a run as a table"),
}


# what Ctrl-C leaves behind, said in the one line it prints (exit status 130, as a shell reports SIGINT)
RESUMABLE = "; run the same command again to continue from the last checkpoint"
INTERRUPTED = {"pretrain": RESUMABLE, "finetune": RESUMABLE, "semi": RESUMABLE, "fusion": RESUMABLE}


def _usage() -> str:
    lines = ["usage: ssl-skel <command> [options]", "", "commands:"]
    width = max(len(name) for name in COMMANDS)
    lines += [f"  {name:<{width}} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Real-data benchmarks (BENCHMARKS.md), from a source checkout: python benchmarks/real_data.py --help"]
    lines += ["", "Run `ssl-skel <command> --help` for a command's options."]
    lines += [f"{TRUST_PICKLE} (any command): read pickle files that hold more than plain data (runs their code)."]
    return "\n".join(lines)


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean 'bad input', not 'bug'."""
    from ssl_skel.core.checkpoint import CheckpointError
    from ssl_skel.core.config import ConfigError
    from ssl_skel.core.io import DiskFullError, OutputPathError
    from ssl_skel.data.layouts import LayoutError
    from ssl_skel.data.storage import DataFormatError

    return (
        UserError,
        ConfigError,
        DataFormatError,
        LayoutError,
        CheckpointError,
        FileNotFoundError,
        DiskFullError,
        OutputPathError,
    )


# OS errors about a path the user named (where a file cannot be made or written): one line, not a traceback
PATH_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG}
MAX_LINE = 1000  # characters of an error line; a longer message (a 900 KB name in it) is cut in the middle


def path_error(exc: OSError) -> str:
    """'<path>: <reason>' for an OSError that names its file (the path cut when very long)."""
    from ssl_skel.core.io import short_path

    return f"{short_path(exc.filename)}: {exc.strerror or exc}"


def one_line(exc: BaseException) -> str:
    """The error's message on one line; for an error raised in a DataLoader worker (which torch re-raises
    with the worker's traceback in the message) only the original message."""
    text = str(exc)
    if "Original Traceback" in text:
        last = [line for line in text.splitlines() if line.strip()][-1]
        text = re.sub(r"^[\w.]+(Error|Exception): ", "", last.strip())
    text = " ".join(text.split())
    if len(text) > MAX_LINE:
        text = f"{text[: MAX_LINE // 2]} ...({len(text) - MAX_LINE} characters)... {text[-MAX_LINE // 2 :]}"
    return text


def _trusting_pickles() -> contextlib.AbstractContextManager:
    """--trust-pickle: the command's pickle readers trust their files (passed as a scope, not through os.environ)."""
    from ssl_skel.data.formats.pickles import trusting_pickles

    return trusting_pickles(True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"ssl-skel: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    trust = TRUST_PICKLE in rest  # any command: pickles (pyskl files, legacy label files) may hold any object
    rest = [a for a in rest if a != TRUST_PICKLE]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:  # outside the error mapping: a Ctrl-C while an error is being reported is one line too
        return _run(name, rest, trust)
    except KeyboardInterrupt:  # Ctrl-C: one line, no traceback; what was written stays consistent (atomic writes)
        print(f"ssl-skel {name}: interrupted (Ctrl-C){INTERRUPTED.get(name, '')}", file=sys.stderr)
        return 130


def _run(name: str, rest: list[str], trust: bool) -> int:
    """Run command `name`; user errors (and OS errors about a named path) become one line and status 2."""
    try:
        module = importlib.import_module(COMMANDS[name][0])
        with _trusting_pickles() if trust else contextlib.nullcontext():
            return int(module.main(rest) or 0)
    except user_errors() as exc:
        print(f"ssl-skel {name}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `ssl-skel info X | head`: the reader left; say so once, no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
        print(f"ssl-skel {name}: error: output pipe closed before the output was complete", file=sys.stderr)
        return 2
    except OSError as exc:
        from ssl_skel.core.io import disk_full

        full = disk_full(exc, exc.filename or "output")
        if full is None and (exc.errno not in PATH_ERRNOS or exc.filename is None):
            raise
        print(f"ssl-skel {name}: error: {full or path_error(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
