"""`ssl-skel <command>`: argument parsing only; each command calls the library."""

from __future__ import annotations


class UserError(Exception):
    """An error caused by input the user can fix; printed as one line, exit status 2."""
