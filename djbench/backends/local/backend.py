"""The local backend: real processes on this machine, each server on its own CPU."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
import psycopg

from djbench.backends.local.cpus import (
    CpuLayout,
    busy_cpu_s,
    cpu_quota,
    placed,
    quota_supported,
    throttled_s,
)
from djbench.backends.local.k6_process import k6_process, wait_k6
from djbench.backends.local.postgres import (
    ConnectionCount,
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
from djbench.backends.local.proxies import Proxy, latency_proxy, started
from djbench.backends.steps import ServerSide, failed_step, measured_step, refused_cause
from djbench.contracts.server import server_settings
from djbench.measure.collectors import Sampler
from djbench.measure.k6 import StepTarget
from djbench.measure.pathcheck import check_path, describe, local_pinger, path_connections
from djbench.measure.proxy_traffic import proxy_traffic
from djbench.measure.stub_traffic import parse_traffic, stats_path, wait_past
from djbench.measure.verify import answer_excerpt, encoded_body, verify_answer
from djbench.model.errors import DjbenchError
from djbench.model.results import Distance, PathCheck, Step, UpstreamTraffic
from djbench.model.scenario import Scenario
from djbench.model.setup import LoadStep, Setup
from djbench.model.variants import Variant
from djbench.project.check import Prepared, project_env
from djbench.project.config import database_values, prepare_commands, with_address
from latencyproxy.ping import PathName

HOST = "127.0.0.1"
BIN_DIR = Path(sys.executable).parent
STUB_API_ARGV = [
    sys.executable, "-m", "stubapi", "--host", HOST, "--port", "{port}",
    "--log-level", "warning", "--backlog", "4096",
]  # fmt: skip
PROMPT_S = 0.25
"""A /healthz answer faster than this means the server has no backlog left."""


@dataclass
class LocalServer:
    """A variant running as a local process tree."""

    setup: Setup
    url: str
    process: ManagedProcess
    cgroup: Path | None
    proxies: list[Proxy] = field(default_factory=list)
    """The latency proxies between this server and Postgres / the stub API."""
    paths: list[PathCheck] = field(default_factory=list)
    """Their added round-trip times, measured before the server started."""

    @property
    def variant(self) -> Variant:
        """The variant this server runs."""
        return self.setup.variant

    def alive(self) -> bool:
        """False once the server has exited."""
        return self.process.running()

    def describe_exit(self) -> str:
        """Exit status and the last lines of the server's output."""
        code = self.process.returncode()
        status = "no status yet" if code is None else exit_status(code)
        return f"{self.variant.name} exited with {status}: {self.process.log_tail(5)}"


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
        return {**self._basic_env(), **project_env(self.project.found, database_url, self._secret)}

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
            [_in_venv(argv[0]), *argv[1:]],
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

    def _check_paths(self, proxies: list[Proxy]) -> list[PathCheck]:
        """Each proxy's added round-trip time at the connections the server may hold on that
        side; a path off its target is a one-line error."""
        checks = []
        for proxy in proxies:
            connections = path_connections(self.scenario, proxy.path)
            ping = local_pinger(proxy.path, proxy.target, proxy.address, connections)
            check = check_path(proxy.path, proxy.rtt_ms, connections, ping)
            if not check.ok:
                raise DjbenchError(describe(check))
            checks.append(check)
        return checks

    def _basic_env(self) -> dict[str, str]:
        return {
            "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": os.environ.get("HOME", str(self.out_dir)),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def _app_env(self, pg: PostgresInfo) -> dict[str, str]:
        return {
            **self._basic_env(),
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
        argv = variant.command(HOST, self.port, threads=self.scenario.threads, app=app)
        argv[0] = _in_venv(argv[0])
        ensure_port_free(HOST, self.port, variant.name)
        with (
            started(self._proxies_for(setup.distance)) as proxies,
            cpu_quota(variant.name, float(len(self.layout.server))) as group,
        ):
            self._proxies = [p.process for p in proxies]
            proc = ManagedProcess(
                variant.name,
                argv,
                log_path=self.logs / f"{variant.name}.log",
                env={**self._env, **self._routes(proxies), **self._server_env(setup)},
                cpus=self.layout.server_arg,
                cgroup=group,
                cwd=self.project.found.root if self.project else None,
            )
            try:
                # Measured before the server runs: nothing else crosses the proxies yet.
                paths = self._check_paths(proxies)
                proc.start()
                url = f"http://{HOST}:{self.port}"
                wait_http(
                    url + self.scenario.health_path, proc, timeout=60, up=self.scenario.healthy
                )
                yield LocalServer(setup, url, proc, group, proxies, paths)
            finally:
                proc.stop()
                self._proxies = []  # stopped on purpose from here on: no fault

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
        measured = self._measure(server, workload, step)
        fault = self.infrastructure_fault()
        return measured if fault is None else failed_step(step, fault)

    def _measure(self, server: LocalServer, workload: str, step: LoadStep) -> Step:
        self._step_counter += 1
        work = self.out_dir / "k6" / f"{self._step_counter:04d}"
        work.mkdir(parents=True, exist_ok=True)
        summary = work / "summary.json"
        s = self.scenario
        warmup_s, duration_s = step.times(s)
        target = StepTarget(
            target=server.url,
            variant=server.variant.name,
            views=server.variant.views,
            workload=workload,
            model=step.model,
            level=step.level,
            warmup_s=warmup_s,
            duration_s=duration_s,
            max_vus=step.vus(s),
            pre_vus=step.pre_vus(s),
            client=server.setup.client,
        )
        k6 = k6_process(
            self.k6, self.scenario_file, target, summary=summary, log=work / "k6.log",
            cpus=self.layout.infra_arg, run_id=self.run_id,
        )  # fmt: skip
        timeout = warmup_s + duration_s + s.request_timeout_s + 60
        sampler = Sampler(
            {
                "server": server.process.tree,
                "k6": k6.tree,
                "infra": lambda: [p for proc in self._infra for p in proc.tree()],
            },
            counters={
                "throttled": lambda: throttled_s(server.cgroup),
                "server_cpus": lambda: busy_cpu_s(self.layout.server),
                **{k: c for p in server.proxies for k, c in p.stats.sampled().items()},
            },
        )
        log_at = self.postgres.log_position() if self.postgres else None
        try:
            counting = ConnectionCount(self.postgres) if self.postgres else None
        except psycopg.Error:
            counting = None  # bookkeeping: the step's own numbers stand without it
        if counting is not None:
            sampler.add_gauge("db_connections", counting)
        try:
            with sampler:
                k6.start()
                stats = wait_k6(k6, summary, timeout, warmup_s, duration_s)
        except DjbenchError as exc:
            return failed_step(step, str(exc))
        finally:
            k6.stop()
            if counting is not None:
                counting.close()
        window = (stats.window_start, stats.window_end)
        cpu_s, rss = sampler.window("server", *window)
        load_cpu_s, _ = sampler.window("k6", stats.window_start, stats.window_end)
        infra_cpu_s, _ = sampler.window("infra", stats.window_start, stats.window_end)
        throttled = (
            sampler.window("throttled", stats.window_start, stats.window_end)[0]
            if sampler.has("throttled")
            else None
        )
        side = ServerSide(
            cpu_s=cpu_s,
            rss_bytes=rss,
            cpu_budget=len(self.layout.server),
            load_cpu_s=load_cpu_s,
            infra_cpu_s=infra_cpu_s,
            throttled_s=throttled,
        )
        error = None if server.alive() else server.describe_exit()
        upstream = None
        if self.scenario.kind(workload).touches_upstream:
            # The stub's count is bookkeeping: without it the step's own numbers still stand.
            with contextlib.suppress(DjbenchError):
                upstream = self._stub_traffic(stats.window_start, stats.window_end)
        paths = {
            proxy.path: proxy_traffic(sampler, proxy.path, stats.window_start, stats.window_end)
            for proxy in server.proxies
        }
        refused = (
            self.postgres.refusals(log_at)
            if self.postgres is not None and log_at is not None
            else None
        )
        held = (
            sampler.window("db_connections", stats.window_start, stats.window_end)[1]
            if counting is not None and sampler.has("db_connections")
            else None
        )
        # Whatever else worked on the server's CPUs: the kernel's count of them, less the
        # server's own (a compiler, a test run beside the benchmark, the machine's host).
        outside = (
            round(max(sampler.window("server_cpus", *window)[0] - cpu_s, 0.0), 4)
            if sampler.has("server_cpus") and self.layout.server != self.layout.infra
            else None
        )
        result = measured_step(step, stats, side, error, upstream)
        if result.status == "failed" and refused:
            # The server ran the database out of connections: that, not the timeouts or
            # errors it answered with, is why the step failed.
            result = result.model_copy(
                update={"error": f"{refused_cause(refused)}; {result.error}"}
            )
        return result.model_copy(
            update={
                "db_connections": held,
                "db_path": paths.get("db"),
                "upstream_path": paths.get("upstream"),
                "db_refused": refused,
                "outside_cpu_s": outside,
            }
        )

    def _stub_traffic(self, start: float, end: float) -> UpstreamTraffic:
        url = self.stub_url + stats_path(start, end)
        wait_past(end)
        try:
            res = httpx.get(url, timeout=10)
        except httpx.HTTPError as exc:
            raise DjbenchError(f"stub API /stats failed: {exc}") from exc
        if res.status_code != 200:
            raise DjbenchError(f"stub API /stats answered {res.status_code}: {res.text[:200]}")
        return parse_traffic(res.text)

    def environment_extra(self) -> dict[str, object]:
        """CPU placement and quota, Postgres version: recorded with the results."""
        return {
            "usable_cpus": sorted({*self.layout.server, *self.layout.infra}),
            "server_cpus": list(self.layout.server),
            "load_cpus": list(self.layout.infra),
            "cpu_quota": self.quota,
            "postgres": self.postgres.version if self.postgres else None,
        }


def stub_api(port: int, env: dict[str, str], cpus: str, log_path: Path) -> ManagedProcess:
    """The stub API process (not yet started) on loopback."""
    argv = [_in_venv(a.format(port=port)) for a in STUB_API_ARGV]
    return ManagedProcess("the stub API", argv, log_path=log_path, env=env, cpus=cpus)


def _in_venv(program: str) -> str:
    """Prefer the program installed beside this Python (the project's environment)."""
    candidate = BIN_DIR / program
    return str(candidate) if candidate.is_file() else program
