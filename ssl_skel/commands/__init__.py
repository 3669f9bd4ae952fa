"""`ssl-skel <command>`: argument parsing only; each command calls the library."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class UserError(Exception):
    """An error caused by input the user can fix; printed as one line, exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the README's promise for bad arguments: one line naming the problem, exit status 2
    (argparse prints the whole usage block first; `--help` still shows it)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)
