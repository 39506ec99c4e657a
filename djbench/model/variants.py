"""Server variants: loaded from ``variants.yaml``, their single definition."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from benchapp.catalog import ViewFlavor
from djbench.model.errors import DjbenchError
from djbench.model.pod import Shape

VARIANTS_FILE = Path(__file__).with_name("variants.yaml")

Server = Literal["gunicorn", "uwsgi", "uvicorn", "granian"]
SERVER_DISTRIBUTIONS: dict[Server, str] = {
    "gunicorn": "gunicorn",
    "uwsgi": "pyuwsgi",
    "uvicorn": "uvicorn",
    "granian": "granian",
}
"""Every server program a variant may run, and the distribution that provides it (its version
is recorded with every run). The one list: the chart's (the django image's servers) and the
``servers`` extra are diffed against it."""
Interface = Literal["wsgi", "asgi"]
ENTRY_POINTS: dict[Interface, str] = {
    "wsgi": "benchapp.wsgi:application",
    "asgi": "benchapp.asgi:application",
}
"""What ``{app}`` in a variant's argv stands for by default: the project under test's entry
point for the variant's interface (charts/django-variant: ``app.wsgi`` / ``app.asgi``)."""
Concurrency = Literal["threads", "greenlets", "event-loop", "thread-per-request"]
"""How one worker holds requests at once: a fixed pool of threads (as many as ``threads``),
or without a fixed bound (greenlets, an event loop, a thread made for each request)."""


class Variant(BaseModel):
    """One server configuration: a program, an interface and the view flavor it serves."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    server: Server
    interface: Interface
    views: ViewFlavor
    threads: int = Field(ge=1, le=1024)
    concurrency: Concurrency
    standard: bool
    description: str
    argv: tuple[str, ...]

    @field_validator("argv")
    @classmethod
    def _one_worker_placeholder(cls, argv: tuple[str, ...]) -> tuple[str, ...]:
        if "{workers}" not in argv:
            raise ValueError("argv must pass the worker count as {workers}")
        return argv

    @property
    def crossed(self) -> bool:
        """True when the server's interface does not match the views it serves."""
        return (self.interface == "wsgi") != (self.views == "sync")

    @property
    def benchapp_only(self) -> bool:
        """True when only benchapp's view flavors set this variant apart: it serves other
        views than its interface's plain ones (sync for WSGI, async for ASGI)."""
        return self.views != ("sync" if self.interface == "wsgi" else "async")

    @property
    def label(self) -> str:
        """Human label: name plus a marker for crossed combinations."""
        return f"{self.name} (crossed)" if self.crossed else self.name

    @property
    def sized_pool(self) -> bool:
        """Whether the worker's concurrency is a pool of threads its command line sizes
        (``{threads}``): the variants a scenario's ``threads`` axis applies to."""
        return self.concurrency == "threads" and "{threads}" in self.argv

    @property
    def standard_threads(self) -> int | None:
        """Threads per worker in the variant's own shape; None when it holds requests
        otherwise (greenlets, an event loop, a thread made per request)."""
        return self.threads if self.concurrency == "threads" else None

    def worker_slots(self, shape: Shape | None = None) -> int | None:
        """Requests one worker serves at once: its threads (the shape's, where the command
        line takes them), or None when unbounded."""
        if self.concurrency != "threads":
            return None
        return shape.threads if shape and shape.threads and self.sized_pool else self.threads

    def slots(self, shape: Shape | None = None) -> int | None:
        """Requests the server serves at once: workers × each worker's slots (None when
        unbounded); ``shape`` None: the variant's own, one worker."""
        per_worker = self.worker_slots(shape)
        return None if per_worker is None else per_worker * (shape.workers if shape else 1)

    def command(
        self, host: str, port: int, shape: Shape | None = None, app: str | None = None
    ) -> list[str]:
        """The command line that starts this variant in ``shape`` (None: one worker of its
        own threads), serving ``app`` (``module:callable``; the default: ``ENTRY_POINTS``
        for its interface)."""
        values = {
            "host": host,
            "port": str(port),
            "workers": str(shape.workers if shape else 1),
            "threads": str(self.worker_slots(shape) or self.threads),
            "app": app or ENTRY_POINTS[self.interface],
        }
        return [arg.format(**values) for arg in self.argv]


@functools.cache
def load_variants(path: Path = VARIANTS_FILE) -> dict[str, Variant]:
    """All variants by name, in file order."""
    raw = yaml.safe_load(path.read_text())
    try:
        return {name: Variant(name=name, **spec) for name, spec in raw.items()}
    except ValidationError as exc:
        raise DjbenchError(f"{path}: invalid variant definition: {exc}") from exc


def standard_variants() -> list[str]:
    """Names of the standard line-up, in definition order."""
    return [name for name, v in load_variants().items() if v.standard]


def resolve_variants(names: list[str] | None) -> list[Variant]:
    """Variants by name (the standard line-up when ``names`` is empty), or a clear error."""
    variants = load_variants()
    if not names:
        return [variants[n] for n in standard_variants()]
    if "all" in names:
        if names != ["all"]:
            raise DjbenchError("'all' cannot be combined with variant names")
        return list(variants.values())
    unknown = [n for n in names if n not in variants]
    if unknown:
        raise DjbenchError(
            f"unknown variant {', '.join(unknown)!s}; choose from: {', '.join(variants)}"
        )
    return [variants[n] for n in dict.fromkeys(names)]
