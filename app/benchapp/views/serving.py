"""How every workload view is served: method check, errors as answers, loop cleanup.

One wrapper for sync and async views alike, applied where the URLconf is built.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse

from benchapp.catalog import Workload
from benchapp.errors import answer_for, error_response
from benchapp.loop_local import aclose_all

SyncView = Callable[[Any], HttpResponse]
AsyncView = Callable[[Any], Awaitable[HttpResponse]]


def _wrong_method(workload: Workload, request: Any) -> HttpResponse | None:
    if request.method == workload.method:
        return None
    response = error_response(f"method {request.method} not allowed, use {workload.method}", 405)
    response["Allow"] = workload.method
    return response


def serve(workload: Workload, view: SyncView | AsyncView) -> SyncView | AsyncView:
    """Wrap ``view`` so known failures become JSON answers (see ``errors.answer_for``)."""
    if iscoroutinefunction(view):
        aview: AsyncView = view

        @functools.wraps(aview)
        async def async_served(request: Any) -> HttpResponse:
            try:
                refusal = _wrong_method(workload, request)
                return refusal if refusal is not None else await aview(request)
            except Exception as exc:
                answer = answer_for(exc)
                if answer is None:
                    raise
                return answer
            finally:
                # Under WSGI, Django runs this view on a loop made for this request alone:
                # close that loop's clients and pools now rather than leak them.
                if not isinstance(request, ASGIRequest):
                    await aclose_all()

        return async_served

    sview: SyncView = view

    @functools.wraps(sview)
    def served(request: Any) -> HttpResponse:
        try:
            refusal = _wrong_method(workload, request)
            return refusal if refusal is not None else sview(request)
        except Exception as exc:
            answer = answer_for(exc)
            if answer is None:
                raise
            return answer

    return served
