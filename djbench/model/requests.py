"""A team's named requests (``djbench.yaml``), what the harness needs to know of any workload,
and a request's path as k6 sends it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol
from urllib.parse import quote

from pydantic import (
    AfterValidator,
    Field,
    field_validator,
)

from djbench.model.strict import Strict

JsonValue = dict[str, Any] | list[Any] | str | int | float | bool | None


NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
"""A request's name: it names a workload in results, k6 tags and file names."""


class NamedRequest(Strict):
    """One request of a team's project, a workload of its own (``djbench.yaml``)."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str
    """The URL path on the server, e.g. ``/books/``; query parameters go in ``query``."""
    query: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: JsonValue = None
    """Sent as JSON (``Content-Type: application/json``), or as it is when it is a string
    (give its ``Content-Type`` in ``headers``)."""
    status: int = Field(default=200, ge=100, le=599)
    """The status a correct answer has (verification and k6's checks)."""
    contains: str | None = None
    """Text a correct answer's body holds, checked once before the load."""
    think_time_ms: float | None = Field(default=None, ge=0)
    """Pause of each virtual user after this request; None: the scenario's ``think_time_ms``."""
    database: bool = True
    """Whether the request uses the database (capacity plans count its connections)."""
    description: str = ""

    @field_validator("path")
    @classmethod
    def _plain_path(cls, path: str) -> str:
        if not path.startswith("/") or any(c in path for c in "?#{} "):
            raise ValueError(
                "a path starts with / and holds no query, fragment, space or braces "
                "(query parameters go in `query`)"
            )
        return path

    @property
    def touches_db(self) -> bool:
        """Whether the request uses the database."""
        return self.database

    @property
    def touches_upstream(self) -> bool:
        """A team's request never calls djbench's stub API."""
        return False


def _named(requests: dict[str, NamedRequest]) -> dict[str, NamedRequest]:
    bad = [n for n in requests if not NAME.match(n)]
    if bad:
        raise ValueError(
            f"{bad[0]!r} is not a name (lowercase letters, digits and '-', up to 40, "
            "e.g. book-list)"
        )
    return requests


NamedRequests = Annotated[dict[str, NamedRequest], AfterValidator(_named)]
"""Requests by name: each name is a workload's, in results, k6 tags and file names."""


class WorkloadKind(Protocol):
    """What the harness needs to know of a workload, benchapp's or a team's request."""

    @property
    def touches_db(self) -> bool: ...

    @property
    def touches_upstream(self) -> bool: ...


@dataclass(frozen=True)
class _Untouched:
    touches_db: bool = False
    touches_upstream: bool = False


UNKNOWN_KIND: WorkloadKind = _Untouched()


@dataclass(frozen=True)
class MixKind:
    """What a traffic mix touches: whatever any of its parts does."""

    touches_db: bool
    touches_upstream: bool

    @classmethod
    def of(cls, parts: list[WorkloadKind]) -> MixKind:
        """The kind of a mix of these parts."""
        return cls(
            touches_db=any(p.touches_db for p in parts),
            touches_upstream=any(p.touches_upstream for p in parts),
        )


def path_with_query(path: str, query: dict[str, str]) -> str:
    """``/books/?page=7``: a request's path with its query string exactly as k6 sends it
    (``k6/lib/config.js``: ``queryString``, keys sorted, ``encodeURIComponent``)."""
    parts = [f"{_uri_component(k)}={_uri_component(query[k])}" for k in sorted(query)]
    return f"{path}?{'&'.join(parts)}" if parts else path


def _uri_component(text: str) -> str:
    # What JavaScript's encodeURIComponent leaves as it is.
    return quote(text, safe="-_.!~*'()")
