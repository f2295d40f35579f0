"""Errors the user can fix: bad suites, unknown names, missing files.

The CLI prints them as one paragraph and exits with code 2, without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Bad input, described well enough to fix it without reading code."""


class ConfigError(UserError):
    """A value in a suite (or plugin parameters) is wrong.

    ``file`` is the YAML file the value came from, ``key`` the dotted key path inside the suite, and the message
    says what was expected.
    """

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None):
        self.message = message
        self.file = file
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, f"key '{self.key}'" if self.key else None) if part)
        return f"{where}: {self.message}" if where else self.message


class CellFailed(RuntimeError):
    """A cell could not finish (divergence, a failed upstream artefact, ...). The suite goes on."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, else the list of what is available."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    if close:
        return f"; did you mean '{close[0]}'?"
    if not choices:
        return "; none are registered"
    return "; available: " + ", ".join(choices)
