"""Operational views: health, Prometheus metrics, and JSON answers for 400, 404 and 500."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse

from benchapp.errors import error_response
from benchapp.metrics import exposition


def healthz(request: Any) -> HttpResponse:
    """200 ``{"status": "ok"}`` without touching the database (a liveness answer)."""
    return JsonResponse({"status": "ok"})


def metrics(request: Any) -> HttpResponse:
    """Prometheus text exposition of this process."""
    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)


def bad_request(request: Any, exception: Exception) -> HttpResponse:
    """``handler400``: e.g. a ``Host`` outside ``DJBENCH_ALLOWED_HOSTS``."""
    return error_response("bad request", 400)


def not_found(request: Any, exception: Exception) -> HttpResponse:
    """``handler404``: JSON instead of an HTML page."""
    return error_response(f"no route for {request.path}", 404)


def server_error(request: Any) -> HttpResponse:
    """``handler500``: JSON, never a traceback (the traceback goes to stderr)."""
    return error_response("internal error", 500)
