"""Logging filters: errors go to stderr, but never one line per answered request."""

from __future__ import annotations

import logging


class TracebacksOnly(logging.Filter):
    """Pass only records that carry an exception (a crash), not plain status-code reports."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.exc_info is not None
