"""What each workload takes and answers, whatever the flavor: parameter parsing, response builders.

Sync and async views call the same parsers and builders (and ``cpu.cpu_burn``), so every flavor
returns the same JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string

from benchapp.catalog import CPU_DEFAULT_N
from benchapp.errors import BadRequest
from benchapp.items.models import NAME_MAX_LENGTH
from benchapp.items.queries import ItemRow, ItemsRead
from benchapp.upstream import UpstreamReply

CPU_MAX_N = 10_000_000
SLEEP_DEFAULT_MS = 100
SLEEP_MAX_MS = 10_000
DB_READ_ROWS = 25
PAGE_ROWS = 10
_INT4 = 2**31  # the value column is a Postgres integer

Via = Literal["timer", "db"]


class Sleep(NamedTuple):
    """A validated ``sleep`` request."""

    ms: int
    via: Via

    @property
    def seconds(self) -> float:
        """The wait in seconds."""
        return self.ms / 1000


class NewItem(NamedTuple):
    """A validated ``db-write`` body."""

    name: str
    value: int


def _int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be in {low}..{high}, got {value}")
    return value


def parse_cpu(query: Mapping[str, str]) -> int:
    """``?n=`` iterations, 1..10_000_000 (default ``CPU_DEFAULT_N``)."""
    return _int_param(query, "n", CPU_DEFAULT_N, 1, CPU_MAX_N)


def parse_sleep(query: Mapping[str, str]) -> Sleep:
    """``?ms=`` 0..10000 (default 100) and ``?via=timer|db``."""
    ms = _int_param(query, "ms", SLEEP_DEFAULT_MS, 0, SLEEP_MAX_MS)
    via = query.get("via", "timer")
    if via == "timer":
        return Sleep(ms, "timer")
    if via == "db":
        return Sleep(ms, "db")
    raise BadRequest(f"via must be 'timer' or 'db', got {via!r}")


def parse_new_item(body: bytes) -> NewItem:
    """A JSON object ``{"name": str 1..100 chars, "value": int}``."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body must be JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    name, value = data.get("name"), data.get("value")
    if not isinstance(name, str) or not 1 <= len(name) <= NAME_MAX_LENGTH:
        raise BadRequest(f"name must be a string of 1..{NAME_MAX_LENGTH} characters")
    # bool is an int in Python, never in the API.
    if not isinstance(value, int) or isinstance(value, bool) or not -_INT4 <= value < _INT4:
        raise BadRequest("value must be a 32-bit integer")
    return NewItem(name, value)


def cpu_answer(n: int, result: int) -> JsonResponse:
    """``{"workload": "cpu", "n": n, "result": result}``."""
    return JsonResponse({"workload": "cpu", "n": n, "result": result})


def db_read_answer(read: ItemsRead) -> JsonResponse:
    """``{"workload": "db-read", "count": C, "items": [...]}``."""
    return JsonResponse({"workload": "db-read", "count": read.row_count, "items": read.items})


def db_write_answer(item: ItemRow) -> JsonResponse:
    """201 ``{"workload": "db-write", "item": {...}}``."""
    return JsonResponse({"workload": "db-write", "item": item}, status=201)


def upstream_answer(replies: Sequence[UpstreamReply]) -> JsonResponse:
    """``{"workload": "upstream", "client": name, "calls": [{"delay_ms": d, "status": s}, ...]}``.

    ``client`` is the client that made the calls, so the harness can check it is the one the
    server was started with.
    """
    # One client makes every call of a request; unpacking fails loudly (500) otherwise.
    (client,) = {reply.client for reply in replies}
    calls = [{"delay_ms": reply.delay_ms, "status": reply.status} for reply in replies]
    return JsonResponse({"workload": "upstream", "client": client, "calls": calls})


def sleep_answer(sleep: Sleep) -> JsonResponse:
    """``{"workload": "sleep", "ms": ms, "via": "timer"|"db"}``."""
    return JsonResponse({"workload": "sleep", "ms": sleep.ms, "via": sleep.via})


def page_answer(flavor: str, read: ItemsRead, reply: UpstreamReply) -> HttpResponse:
    """The HTML page: the latest items, the row count, the upstream record and its client."""
    context: dict[str, Any] = {
        "flavor": flavor,
        "count": read.row_count,
        "items": read.items,
        "upstream": reply,
    }
    return HttpResponse(render_to_string("page.html", context))
