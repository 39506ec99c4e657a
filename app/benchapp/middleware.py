"""The one middleware: enforce ``ALLOWED_HOSTS`` and time every request into the histogram.

Written for both handler kinds (``sync_and_async_middleware``) so Django never adapts it across
a thread or loop boundary: sync views under WSGI and async views under ASGI run without a hop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.utils.decorators import sync_and_async_middleware

from benchapp.metrics import observe_request

UNMATCHED_ROUTE = "unmatched"


def _route(request: Any) -> str:
    # The URL pattern name (e.g. "async/db-read"), never the raw path: bounded label values.
    match = request.resolver_match
    return (match.url_name if match else None) or UNMATCHED_ROUTE


@sync_and_async_middleware  # type: ignore[untyped-decorator]  # Django ships no type hints
def observe(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Time each request; reject hosts outside ``ALLOWED_HOSTS`` (nothing else would check)."""
    if iscoroutinefunction(get_response):
        aget_response: Callable[[Any], Awaitable[Any]] = get_response

        async def async_middleware(request: Any) -> Any:
            start = perf_counter()
            request.get_host()  # raises DisallowedHost, which Django answers with 400
            response = await aget_response(request)
            observe_request(_route(request), response.status_code, perf_counter() - start)
            return response

        return async_middleware

    def middleware(request: Any) -> Any:
        start = perf_counter()
        request.get_host()
        response = get_response(request)
        observe_request(_route(request), response.status_code, perf_counter() - start)
        return response

    return middleware
