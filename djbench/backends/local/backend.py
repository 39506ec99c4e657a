"""The local backend: real processes on this machine, each server on its own CPU."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import httpx

from djbench.backends.local.cpus import (
    CpuLayout,
    cpu_quota,
    placed,
    quota_supported,
)
from djbench.backends.local.postgres import (
    PostgresInfo,
    embedded_postgres,
    keep_prepared,
    restore_prepared,
)
from djbench.backends.local.processes import (
    ManagedProcess,
    ensure_port_free,
    exit_status,
    free_port,
    wait_http,
)
from djbench.backends.local.programs import HOST, basic_env, in_venv, stub_api
from djbench.backends.local.proxies import Proxy, check_paths, latency_proxy, started
from djbench.backends.local.step import LocalServer, StepPlace, measure_step
from djbench.backends.steps import failed_step
from djbench.contracts.server import server_settings
from djbench.measure.verify import answer_excerpt, encoded_body, verify_answer
from djbench.model.errors import DjbenchError
from djbench.model.results import Distance, Step
from djbench.model.scenario import Scenario
from djbench.model.setup import LoadStep, Setup
from djbench.project.check import Prepared, project_env
from djbench.project.config import database_values, prepare_commands, with_address
from latencyproxy.ping import PathName

PROMPT_S = 0.25
"""A /healthz answer faster than this means the server has no backlog left."""


class LocalBackend:
    """Embedded Postgres, the stub API and one server at a time, placed on separate CPUs."""

    name: Literal["local"] = "local"
    """Recorded as ``backend`` in the results."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        out_dir: Path,
        layout: CpuLayout,
        k6: Path,
        port: int,
        run_id: str,
        project: Prepared | None = None,
        database_url: str | None = None,
    ) -> None:
        self.scenario = scenario
        self.project = project
        """A team's project in place of benchapp (``djbench run --project``)."""
        self.database_url = database_url
        """The project's own database, which djbench neither starts nor prepares."""
        self._secret = secrets.token_urlsafe(50)  # generated per run, never written by us
        self.out_dir = out_dir.resolve()  # children run elsewhere (k6, a project's root)
        self.logs = self.out_dir / "logs"
        self.layout = layout
        self.k6 = k6
        self.port = port
        self.run_id = run_id
        self.scenario_file = self.out_dir / "scenario.json"
        self._env: dict[str, str] = {}
        self.quota = quota_supported()
        self._step_counter = 0
        self.postgres: PostgresInfo | None = None
        self._infra: list[ManagedProcess] = []
        self._proxies: list[ManagedProcess] = []
        self.stub_port = 0
        """The stub API's port on loopback, once the infrastructure is up."""

    # -- infrastructure ---------------------------------------------------------------------

    @contextlib.contextmanager
    def infrastructure(self) -> Iterator[None]:
        """Postgres (migrated and seeded), then the stub API; both on the non-server CPUs."""
        ensure_port_free(HOST, self.port, "the server under test")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.scenario_file.write_text(json.dumps(self.scenario.resolved(), indent=2))
        shared = self.layout.server == self.layout.infra
        with contextlib.nullcontext() if shared else placed(self.layout.infra):
            if self.project is not None:
                with self._project_infrastructure(self.project):
                    yield
            else:
                with self._benchapp_infrastructure():
                    yield

    @contextlib.contextmanager
    def _benchapp_infrastructure(self) -> Iterator[None]:
        """The embedded Postgres, migrated and seeded with benchapp's rows, and the stub API."""
        with embedded_postgres(self.logs / "postgres.log", cpus=self.layout.infra_arg) as pg:
            self.postgres = pg
            stub_port = self.stub_port = free_port(HOST)
            self._env = self._app_env(pg)
            self._manage("migrate", "--noinput")
            self._manage("seed", "--rows", str(self.scenario.seed_rows))
            stub = stub_api(stub_port, self._env, self.layout.infra_arg, self.logs / "stubapi.log")
            with contextlib.ExitStack() as stack:
                stack.callback(stub.stop)
                self._infra = [pg.process, stub]
                stack.callback(self._infra.clear)  # stopped on purpose from here on: no fault
                stub.start()
                wait_http(f"{self.stub_url}/healthz", stub, timeout=30)
                yield

    @contextlib.contextmanager
    def _project_infrastructure(self, project: Prepared) -> Iterator[None]:
        """The project's own database as it is, or the embedded Postgres with the project's
        migrations, fixtures and seed command applied; no stub API (the project calls its own
        services)."""
        if self.database_url is not None:
            self._env = self._project_env(self.database_url)
            for argv in project.found.project.build:
                self._prepare(argv, "building the project", "build.log")
            yield
            return
        with embedded_postgres(self.logs / "postgres.log", cpus=self.layout.infra_arg) as pg:
            self.postgres = pg
            self._env = self._project_env(pg.url())
            for argv in project.found.project.build:
                self._prepare(argv, "building the project", "build.log")
            # Once per run: every server then starts from a copy of what this made.
            for argv in prepare_commands(project.found.project.database):
                self._prepare(argv)
            keep_prepared(pg)
            self._infra = [pg.process]
            try:
                yield
            finally:
                self._infra = []  # stopped on purpose from here on: no fault

    def _project_env(self, database_url: str) -> dict[str, str]:
        assert self.project is not None
        return {
            **basic_env(self.out_dir),
            **project_env(self.project.found, database_url, self._secret),
        }

    def _prepare(
        self,
        argv: list[str],
        what: str = "preparing the project's database",
        log_name: str = "prepare.log",
    ) -> None:
        """One command of the project's, in its root, its output in ``logs/``."""
        assert self.project is not None
        log = self.logs / log_name
        status = ManagedProcess(
            f"`{' '.join(argv)}`",
            [in_venv(argv[0]), *argv[1:]],
            log_path=log,
            env=self._env,
            cpus=self.layout.infra_arg,
            cwd=self.project.found.root,
        ).run(timeout=1800)
        if status != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise DjbenchError(
                f"{what}: `{' '.join(argv)}` failed ({exit_status(status)}): "
                f"{' | '.join(tail) or 'no output'} (log: {log})"
            )

    @property
    def stub_url(self) -> str:
        """The stub API's base URL (servers reach it there unless a proxy stands between)."""
        return f"http://{HOST}:{self.stub_port}"

    def infrastructure_fault(self) -> str | None:
        """Postgres, the stub API or a latency proxy exited (or Postgres restarted every
        server process after a crash) since it started: one line naming it; else None."""
        if not self._infra:
            return None
        if self.postgres is not None and (cause := self.postgres.fault()) is not None:
            return cause
        return next(
            (c for p in [*self._infra, *self._proxies] if (c := p.exit_cause()) is not None), None
        )

    def _db_url(self) -> str:
        """The database the servers use: the team's own, or the embedded one."""
        if self.database_url is not None:
            return self.database_url
        assert self.postgres is not None, "infrastructure() first"
        return self.postgres.url()

    def _proxies_for(self, distance: Distance) -> list[Proxy]:
        """A latency proxy (not yet started) for each side the distance names."""
        db = database_values(self._db_url())
        sides: list[tuple[PathName, float | None, tuple[str, int]]] = [
            ("db", distance.db_rtt_ms, (db["db_host"], int(db["db_port"]))),
            ("upstream", distance.upstream_rtt_ms, (HOST, self.stub_port)),
        ]
        jitter = self.scenario.network.jitter_ms
        return [
            latency_proxy(path, rtt, target, jitter, self.layout.infra_arg, self.logs)
            for path, rtt, target in sides
            if rtt is not None
        ]

    def _routes(self, proxies: list[Proxy]) -> dict[str, str]:
        """The server's environment pointing at the proxies instead of their targets."""
        env = {}
        for proxy in proxies:
            host, port = proxy.address
            if proxy.path == "db" and self.project is not None:
                env = self._project_env(with_address(self._db_url(), host, port))
            elif proxy.path == "db":
                env["DJBENCH_DATABASE_URL"] = with_address(self._db_url(), host, port)
            else:
                env["DJBENCH_STUB_URL"] = f"http://{host}:{port}"
        return env

    def _app_env(self, pg: PostgresInfo) -> dict[str, str]:
        return {
            **basic_env(self.out_dir),
            "DJANGO_SETTINGS_MODULE": "benchapp.settings",
            "DJBENCH_DATABASE_URL": pg.url(),
            "DJBENCH_STUB_URL": self.stub_url,
            "DJBENCH_SECRET_KEY": self._secret,
            "DJBENCH_ALLOWED_HOSTS": f"{HOST},localhost",
        }

    def _manage(self, *args: str) -> None:
        log = self.logs / "manage.log"
        status = ManagedProcess(
            f"django {args[0]}",
            [sys.executable, "-m", "django", *args],
            log_path=log,
            env=self._env,
            cpus=self.layout.infra_arg,
        ).run(timeout=600)
        if status != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise DjbenchError(f"`django {' '.join(args)}` failed: {' | '.join(tail)}")

    # -- servers ----------------------------------------------------------------------------

    def _server_env(self, setup: Setup) -> dict[str, str]:
        if self.project is not None:
            return {}  # the project's settings size its own pools
        return server_settings(setup, self.scenario)

    @contextlib.contextmanager
    def server(self, setup: Setup) -> Iterator[LocalServer]:
        """Start one variant on the server CPU (and quota), wait for /healthz, then stop it."""
        variant = setup.variant
        app = self.project.entry_points[variant.interface] if self.project else None
        if self.project is not None and self.postgres is not None:
            # A team's requests may write what others read: every server starts from the
            # database as prepared, whatever the servers before it wrote.
            restore_prepared(self.postgres)
        argv = variant.command(HOST, self.port, setup.shape, app=app)
        argv[0] = in_venv(argv[0])
        ensure_port_free(HOST, self.port, variant.name)
        budget = self.budget(setup)
        pinned = self.layout.pinned(budget)
        with (
            started(self._proxies_for(setup.distance)) as proxies,
            cpu_quota(variant.name, budget) as group,
        ):
            if group is None and budget < len(pinned):
                raise DjbenchError(
                    f"cpus: {budget:g} is a fraction of a CPU, which only a CPU cgroup quota "
                    "can give, and djbench may make none here (it needs root and a CPU "
                    "controller)"
                )
            self._proxies = [p.process for p in proxies]
            proc = ManagedProcess(
                variant.name,
                argv,
                log_path=self.logs / f"{variant.name}.log",
                env={**self._env, **self._routes(proxies), **self._server_env(setup)},
                cpus=",".join(map(str, pinned)),
                cgroup=group,
                cwd=self.project.found.root if self.project else None,
            )
            try:
                # Measured before the server runs: nothing else crosses the proxies yet.
                paths = check_paths(self.scenario, proxies)
                proc.start()
                url = f"http://{HOST}:{self.port}"
                wait_http(
                    url + self.scenario.health_path, proc, timeout=60, up=self.scenario.healthy
                )
                yield LocalServer(setup, url, proc, group, proxies, paths)
            finally:
                proc.stop()
                self._proxies = []  # stopped on purpose from here on: no fault

    def budget(self, setup: Setup) -> float:
        """CPUs the server of ``setup`` may use: its shape's budget, else all server CPUs."""
        return setup.shape.cpus if setup.shape else float(len(self.layout.server))

    def settle(self, server: LocalServer, timeout: float) -> str | None:
        """Wait until the health path answers healthily within 250 ms (no queue of earlier
        requests); else why not."""
        path = self.scenario.health_path
        deadline = time.monotonic() + timeout
        with httpx.Client() as client:
            while (left := deadline - time.monotonic()) > 0:
                started = time.monotonic()
                try:
                    res = client.get(server.url + path, timeout=left)
                except httpx.TimeoutException:
                    break
                except httpx.HTTPError as exc:
                    return f"{path} did not answer: {exc}"
                if not self.scenario.healthy(res.status_code):
                    said = answer_excerpt(
                        res.status_code,
                        res.headers.get("content-type", ""),
                        res.text,
                        res.headers.get("location"),
                    )
                    return f"{path} answered {res.status_code}{said}"
                if time.monotonic() - started < PROMPT_S:
                    return None
        return f"still busy after {timeout:g} s ({path} slower than {PROMPT_S * 1000:.0f} ms)"

    def load_average(self) -> tuple[float, float, float] | None:
        """This machine's load average: the servers run here."""
        one, five, fifteen = (round(x, 2) for x in os.getloadavg())
        return one, five, fifteen

    def verify(self, server: LocalServer, workload: str) -> str | None:
        """One request through httpx, checked like every backend checks it."""
        req = self.scenario.request(workload)
        url = server.url + req["path"].format(views=server.variant.views)
        body, headers = encoded_body(req)
        try:
            with httpx.Client(timeout=30) as client:
                res = client.request(
                    req["method"], url, params=req["query"], headers=headers, content=body
                )
        except httpx.HTTPError as exc:
            return f"verify: {req['method']} {url} failed: {exc}"
        where = f"{req['method']} {res.request.url}"
        return verify_answer(
            self.scenario,
            workload,
            where,
            res.status_code,
            res.headers.get("content-type", ""),
            res.text,
            client=server.setup.client,
            location=res.headers.get("location"),
        )

    # -- one step ---------------------------------------------------------------------------

    def measure(self, server: LocalServer, workload: str, step: LoadStep) -> Step:
        """Run k6 for one step on the load CPUs while sampling the server's process tree.

        A step measured while Postgres or the stub API was gone is void: it fails with that
        cause, whatever the server answered meanwhile (e.g. "database pool exhausted")."""
        if (fault := self.infrastructure_fault()) is not None:
            return failed_step(step, fault)
        self._step_counter += 1
        work = self.out_dir / "k6" / f"{self._step_counter:04d}"
        place = StepPlace(self.k6, self.scenario_file, self.layout, self.run_id, work)
        measured = measure_step(
            server, workload, step, self.scenario, place, self._infra, self.postgres,
            self.stub_url,
        )  # fmt: skip
        fault = self.infrastructure_fault()
        return measured if fault is None else failed_step(step, fault)

    def environment_extra(self) -> dict[str, object]:
        """CPU placement and quota, Postgres version: recorded with the results."""
        return {
            "usable_cpus": sorted({*self.layout.server, *self.layout.infra}),
            "server_cpus": list(self.layout.server),
            "load_cpus": list(self.layout.infra),
            "cpu_quota": self.quota,
            "postgres": self.postgres.version if self.postgres else None,
        }
