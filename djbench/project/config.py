"""A team's own Django project under test (``djbench run --project``): its ``djbench.yaml``.

The file names the project's settings module and (optionally) its entry points, the
environment its settings read, how its database is prepared, and its named requests: the
workloads in place of benchapp's. It is validated like a scenario, and the scenario it yields
(``Project.apply``) carries the requests to k6 and into the results.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from djbench.model.errors import DjbenchError
from djbench.model.requests import NamedRequests
from djbench.model.results import ProjectInfo
from djbench.model.scenario import Scenario, Slo
from djbench.model.scenario_file import format_error, revalidate, yaml_mapping
from djbench.model.strict import Strict
from djbench.model.variants import Interface
from djbench.project.probe import candidates

PROJECT_FILE = "djbench.yaml"
ENTRY_POINT = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"
PLACEHOLDERS = (
    "database_url", "db_host", "db_port", "db_name", "db_user", "db_password",
    "secret_key", "allowed_hosts",
)  # fmt: skip
"""What ``env`` values may hold in braces, filled in by djbench for each server it starts."""
DEFAULT_ENV = {"DATABASE_URL": "{database_url}"}
"""The environment when the file gives none: the ``dj-database-url`` convention."""


class ProjectDatabase(Strict):
    """How djbench prepares the embedded Postgres (not a database of the team's own)."""

    migrate: bool = True
    """Apply the project's migrations (``django migrate``) before the servers start."""
    fixtures: list[str] = Field(default_factory=list)
    """Fixtures loaded after the migrations (``django loaddata``), relative to the root."""
    seed: list[str] = Field(default_factory=list)
    """A command run after them in the project's root, e.g. ``[python, manage.py, seed]``."""


def prepare_commands(database: ProjectDatabase) -> list[list[str]]:
    """The commands that prepare the project's database, in order, each run in the project's
    root with its environment: the migrations, the fixtures, the seed command (locally, and
    on Kubernetes in the variant chart's prepare Job)."""
    commands = []
    if database.migrate:
        commands.append(["python", "-m", "django", "migrate", "--noinput"])
    if database.fixtures:
        commands.append(["python", "-m", "django", "loaddata", *database.fixtures])
    if database.seed:
        commands.append(list(database.seed))
    return commands


KUBERNETES_PLACEHOLDERS = {
    "database_url": "$(DJBENCH_DATABASE_URL)",
    "db_host": "$(DJBENCH_DB_HOST)",
    "db_port": "$(DJBENCH_DB_PORT)",
    "db_name": "$(DJBENCH_DB_NAME)",
    "db_user": "$(DJBENCH_DB_USER)",
    "db_password": "$(PGPASSWORD)",
    "secret_key": "$(DJBENCH_SECRET_KEY)",
    "allowed_hosts": "$(DJBENCH_ALLOWED_HOSTS)",
}
"""On Kubernetes each placeholder is a reference to a variable the variant chart defines
before the project's own (``$(NAME)``, expanded by the kubelet): the password and the secret
key stay in their Secrets, never in values."""


class Project(Strict):
    """A validated ``djbench.yaml``: the project, its database, its named requests."""

    name: str = ""
    """Shown in reports; empty: the directory's name."""
    settings: str = Field(pattern=r"^[A-Za-z_][\w.]*$")
    """The settings module (``DJANGO_SETTINGS_MODULE``)."""
    wsgi: str | None = Field(default=None, pattern=ENTRY_POINT)
    """The WSGI entry point (``module:callable``); None: found from the settings."""
    asgi: str | None = Field(default=None, pattern=ENTRY_POINT)
    """The ASGI entry point; None: ``<package>.asgi:application`` beside the settings."""
    root: str = "."
    """The directory the project's packages are imported from, relative to this file."""
    env: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ENV))
    """The servers' environment beyond ``DJANGO_SETTINGS_MODULE``, with placeholders."""
    build: list[Annotated[list[str], Field(min_length=1)]] = Field(default_factory=list)
    """Commands run once in the root before the database is prepared (e.g. ``[python,
    manage.py, collectstatic, --noinput]``), each an argv; locally only: on Kubernetes the
    team's image is built with them."""
    database: ProjectDatabase = Field(default_factory=ProjectDatabase)
    health_path: str = Field(default="/", pattern=r"^/[^?# ]*$")
    """Where djbench asks a started server whether it is up and well: any answer below 500
    says so (at start, between steps and before each request is verified)."""
    requests: NamedRequests = Field(min_length=1)
    slo: dict[str, Slo] = Field(default_factory=dict)
    """Per-request (or per-mix) SLO; others use the scenario's ``default_slo``."""
    mix: dict[str, dict[str, float]] = Field(default_factory=dict)
    """Traffic mixes of these requests by weight, each a workload of its own (the
    scenario's ``mix``); the profile's mixes are benchapp's and do not apply."""

    @field_validator("env")
    @classmethod
    def _known_placeholders(cls, env: dict[str, str]) -> dict[str, str]:
        for key, value in env.items():
            try:
                fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
            except ValueError as exc:
                raise ValueError(f"{key}: {exc} (write a literal brace as {{{{ or }}}})") from exc
            unknown = [f for f in fields if f not in PLACEHOLDERS]
            if unknown:
                raise ValueError(
                    f"{key}: unknown placeholder {{{unknown[0]}}}; "
                    f"choose from: {', '.join(PLACEHOLDERS)}"
                )
        return env

    def conventional_entry_points(self) -> dict[Interface, str]:
        """The entry points without loading the project (on Kubernetes it runs in its own
        image): given, else ``wsgi`` / ``asgi`` modules beside the settings module."""
        given: dict[Interface, str | None] = {"wsgi": self.wsgi, "asgi": self.asgi}
        return {
            kind: candidates(kind, entry, None, self.settings)[0] for kind, entry in given.items()
        }

    def apply(self, scenario: Scenario, source: str) -> Scenario:
        """The scenario with this project's requests as its workloads (its load shape, its
        default SLO), validated; ``source`` names the file in errors."""
        if scenario.network.upstream_rtt_ms:
            raise DjbenchError(
                f"{source}: network.upstream_rtt_ms puts djbench's stub API at a distance; "
                "a project calls its own services (keep db_rtt_ms only)"
            )
        known = {*self.requests, *self.mix}
        # On each server, requests that read run before those that may write (all but GET):
        # no read measures rows an earlier write of the same server added.
        order = sorted(self.requests, key=lambda n: self.requests[n].method != "GET")
        slo = {**{k: v for k, v in scenario.slo.items() if k in known}, **self.slo}
        return revalidate(
            scenario,
            {
                "requests": {n: self.requests[n].model_dump() for n in order},
                "workloads": [*order, *self.mix],
                "mix": self.mix,
                "description": (
                    f"named requests {', '.join([*order, *self.mix])} with the "
                    f"{scenario.name} profile's load (standard variants unless given)"
                ),
                "health_path": self.health_path,
                "slo": {k: v.model_dump() for k, v in slo.items()},
                "params": {k: v for k, v in scenario.params.items() if k in known},
            },
            source,
        )


class ProjectDir(BaseModel):
    """A project file as found on disk: the file, its project, and where it imports from."""

    model_config = ConfigDict(frozen=True)

    file: Path
    project: Project

    @property
    def root(self) -> Path:
        """The directory the project's packages are imported from (and commands run in)."""
        return (self.file.parent / self.project.root).resolve()

    @property
    def name(self) -> str:
        """The project's name in reports."""
        return self.project.name or self.file.parent.resolve().name

    def info(
        self,
        entry_points: Mapping[Interface, str],
        database: str,
        defaulted: list[str] | None = None,
        built: bool = True,
    ) -> ProjectInfo:
        """What the results record of the project, served from ``entry_points`` (those of
        the ``defaulted`` interfaces supplied by djbench; ``built``: its build commands
        ran here)."""
        return ProjectInfo(
            name=self.name,
            file=str(self.file),
            settings=self.project.settings,
            entry_points={str(kind): entry for kind, entry in entry_points.items()},
            database=database,
            env=self.project.env,
            build=list(self.project.build) if built else [],
            defaulted=list(defaulted or []),
        )


def load_project(path: Path) -> ProjectDir:
    """Read and validate a project's ``djbench.yaml`` (``path``: the file or its directory);
    every problem is one line naming the file and the field."""
    file = path / PROJECT_FILE if path.is_dir() else path
    try:
        text = file.read_text()
    except OSError as exc:
        raise DjbenchError(
            f"{file}: cannot read the project file ({exc.strerror}); --project takes a "
            f"project's directory holding {PROJECT_FILE}, or that file"
        ) from exc
    raw = yaml_mapping(text, str(file), "a project file")
    try:
        project = Project.model_validate(raw)
    except ValidationError as exc:
        raise DjbenchError(format_error(str(file), exc, Project)) from exc
    found = ProjectDir(file=file.resolve(), project=project)
    if not found.root.is_dir():
        raise DjbenchError(f"{file}: root: {found.root} is not a directory")
    return found


def database_values(url: str) -> dict[str, str]:
    """The database placeholders' values from a postgres:// URL."""
    parts = urlsplit(url)
    return {
        "database_url": url,
        "db_host": parts.hostname or "",
        "db_port": str(parts.port or 5432),
        "db_name": parts.path.lstrip("/"),
        "db_user": parts.username or "",
        "db_password": parts.password or "",
    }


def with_address(url: str, host: str, port: int) -> str:
    """A database URL pointing at another host and port (a latency proxy), its user,
    password, database and options kept."""
    parts = urlsplit(url)
    userinfo, at, _ = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{userinfo}{at}{host}:{port}").geturl()


def render_env(env: dict[str, str], values: dict[str, str]) -> dict[str, str]:
    """The project's environment with its placeholders filled in."""
    return {key: value.format(**values) for key, value in env.items()}


def redacted(url: str) -> str:
    """A database URL without its password, to print and record."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = quote(parts.username or "", safe="")
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"{user}:***@{host}{port}").geturl()


def database_note(database_url: str | None, backend: str = "local") -> str:
    """Whose database a project's run uses, as its results record it."""
    if backend == "kubernetes":
        return "the cluster's Postgres (`task up`), prepared by the first variant's prepare Job"
    if database_url is None:
        return "embedded Postgres, created, migrated and seeded for this run"
    return (
        f"the team's own at {redacted(database_url)}: djbench did not create, migrate, seed "
        "or reset it"
    )
