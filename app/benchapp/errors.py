"""Errors as answers: which failures become which HTTP status, in one place.

A benchmark under overload must see fast, countable errors (400, 502, 503), never a traceback
page or a request hanging until the load generator gives up.
"""

from __future__ import annotations

from django.db import OperationalError as DjangoOperationalError
from django.http import JsonResponse
from psycopg import OperationalError as PsycopgOperationalError
from psycopg_pool import PoolTimeout


class BadRequest(Exception):
    """The client sent a bad parameter or body (400)."""


class UpstreamError(Exception):
    """The stub API failed or answered with an error status (502).

    Each upstream client turns its library's failures into this (``upstream.base.failures_of``).
    """


def error_response(message: str, status: int) -> JsonResponse:
    """The JSON body of every error: ``{"error": message}``."""
    return JsonResponse({"error": message}, status=status)


def answer_for(exc: BaseException) -> JsonResponse | None:
    """The answer for a known failure, or ``None`` to let Django treat it as a crash (500)."""
    if isinstance(exc, BadRequest):
        return error_response(str(exc), 400)
    if isinstance(exc, UpstreamError):
        return error_response(str(exc), 502)
    # Django wraps psycopg errors (PoolTimeout included) in its own, keeping the original cause.
    cause = exc.__cause__ if isinstance(exc, DjangoOperationalError) else exc
    if isinstance(cause, PoolTimeout):
        return error_response("database pool exhausted", 503)
    if isinstance(exc, DjangoOperationalError | PsycopgOperationalError):
        return error_response("database unavailable", 503)
    return None
