"""Reading pickle files (pyskl annotations, UmURL `*_label.pkl`) without running code from them.

Why a restricted unpickler: unpickling can run any code a file names, and pyskl annotations and
UmURL label files are plain containers, numbers, strings and numpy arrays; anything else is
refused unless the user trusts the file. Trust is an explicit argument of the readers that
unpickle (`trust_pickle=`, the `--trust-pickle` flag of `gendata pyskl` / `gendata import`);
where a caller leaves it unset (None), the CLI's `--trust-pickle` scope (`trusting_pickles`, for
any command) or else the environment variable SSL_SKEL_TRUST_PICKLE decides, read strictly
(`trust_from_env`).
"""

from __future__ import annotations

import _compat_pickle
import contextlib
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ssl_skel.core.schema import ConfigError
from ssl_skel.data.formats.common import check_regular
from ssl_skel.data.storage import DataFormatError

TRUST_ENV = "SSL_SKEL_TRUST_PICKLE"
TRUST_WORDS = ("1", "true", "yes")  # SSL_SKEL_TRUST_PICKLE values that trust pickles (any case)
DISTRUST_WORDS = ("", "0", "false", "no")  # and those that do not; any other value is an error
_trust: bool | None = None  # inside `trusting_pickles`: its value


class _PlainUnpickler(pickle.Unpickler):
    """Builds only plain containers, numbers, strings and numpy arrays; any other global is refused."""

    ALLOWED = {
        ("builtins", n) for n in ("dict", "list", "tuple", "set", "frozenset", "bytearray", "complex", "slice", "range")
    } | {
        ("collections", "OrderedDict"),
        ("_codecs", "encode"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        *((m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")),
        *((m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")),
    }

    def __init__(self, fh: Any, path: Path, **kwargs: Any) -> None:
        super().__init__(fh, **kwargs)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _compat_pickle.NAME_MAPPING:  # python-2 names, as pickle itself maps them
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in self.ALLOWED or (module == "numpy" and name.endswith("DType")):
            return super().find_class(module, name)
        raise DataFormatError(
            f"{self.path}: the pickle asks for {module}.{name}, which is not plain data (containers, numbers, "
            "strings, numpy arrays); refused because unpickling it could run code. If you trust the file, "
            "pass --trust-pickle"
        )


def trust_from_env() -> bool:
    """SSL_SKEL_TRUST_PICKLE, read strictly: 1, true, yes (any case) trust; unset, empty, 0, false, no do not;
    anything else is an error naming the variable (a typo must not silently allow code to run)."""
    value = os.environ.get(TRUST_ENV, "")
    word = value.strip().lower()
    if word in TRUST_WORDS:
        return True
    if word in DISTRUST_WORDS:
        return False
    raise ConfigError(
        f"{TRUST_ENV}={value!r}: expected 1, true or yes (trust pickle files) or 0, false, no or empty (do not)"
    )


@contextlib.contextmanager
def trusting_pickles(trust: bool = True) -> Iterator[None]:
    """Within the block, readers that are not told otherwise trust pickles. The CLI's `--trust-pickle` (any
    command) runs the command in this block; a reader given `trust_pickle=` explicitly follows that instead."""
    global _trust
    before, _trust = _trust, trust
    try:
        yield
    finally:
        _trust = before


def trust_pickles() -> bool:
    """What a reader not told explicitly does: `trusting_pickles` when inside one, else SSL_SKEL_TRUST_PICKLE."""
    return _trust if _trust is not None else trust_from_env()


def load_pickle(path: str | Path, trust: bool | None = None) -> Any:
    """Unpickle `path` with `_PlainUnpickler` unless `trust` (None: `trust_pickles()`)."""
    path = Path(path)
    trust = trust_pickles() if trust is None else trust
    if not path.exists():
        raise DataFormatError(f"{path}: file not found")
    check_regular(path)

    def load(encoding: str) -> Any:
        with open(path, "rb") as fh:
            if trust:
                return pickle.load(fh, encoding=encoding)
            return _PlainUnpickler(fh, path, encoding=encoding).load()

    try:
        try:
            return load("ASCII")
        except UnicodeDecodeError:  # python-2 pickles of numpy arrays
            return load("latin1")
    except DataFormatError:
        raise
    except (Exception, MemoryError, RecursionError) as exc:  # noqa: BLE001 - damaged bytes fail in many ways
        reason = " ".join(str(exc).split())[:200]
        raise DataFormatError(f"{path}: not a readable pickle ({type(exc).__name__}: {reason})") from None
