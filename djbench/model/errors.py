"""The one error type the CLI turns into ``ERROR: …`` and exit status 1."""

from __future__ import annotations


class DjbenchError(Exception):
    """A problem the user can fix: bad input, a missing tool, a busy port."""
