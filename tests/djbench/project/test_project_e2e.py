"""A team's project for real: the example bookshop installed as a team would install djbench
beside it (a fresh virtual environment, pip), then run under every standard variant; and an
endpoint that fails verification."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from djbench.model.results_file import load_results
from djbench.model.variants import standard_variants
from djbench.run.outcome import EXIT_OK, EXIT_RUNS_FAILED

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[3]
EXAMPLE = REPO / "examples" / "bookshop"
REQUESTS = ["book-list", "book-page", "add-review"]


def run(
    argv: list[str], cwd: Path, timeout: float = 900, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "160", "PYTHONPATH": "", **env},
    )  # fmt: skip


def readme_commands() -> list[str]:
    """The README's commands for a team's project ("Your own project"), as written: the
    first shell block of that section, each line without its comment."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Your own project") :]
    block = section[section.index("```sh\n") + len("```sh\n") :]
    lines = block[: block.index("```")].splitlines()
    return [line.split("   # ")[0].strip() for line in lines if line.strip()]


def checkout_copy(where: Path) -> Path:
    """What a fresh clone holds of djbench and the example (its packages, k6 script,
    metadata), without this checkout's environments and results."""
    for name in ("djbench", "app", "tools", "k6", "examples"):
        shutil.copytree(
            REPO / name,
            where / name,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "results"),
        )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, where / name)
    return where


def test_the_readme_s_commands_run_as_written(tmp_path: Path) -> None:
    """The README's install and smoke run, verbatim: in a checkout's root, default output
    folder (relative), no extra flags; every variant measures every request."""
    install, smoke, default = readme_commands()
    assert install.startswith("python3 -m venv bookshop-env && ")
    assert smoke == "bookshop-env/bin/djbench run --project examples/bookshop --profile smoke"
    assert default == "bookshop-env/bin/djbench run --project examples/bookshop"
    root = checkout_copy(tmp_path / "djbench")
    installed = run(["bash", "-c", install], root)
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    done = run(["bash", "-c", smoke], root)
    assert done.returncode == EXIT_OK, done.stdout[-3000:] + done.stderr[-3000:]
    assert "project bookshop (Django 5.2" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    (out,) = (root / "results").iterdir()  # results/<time>-smoke, relative to where it ran
    assert out.name.endswith("-smoke")

    results = load_results(out)
    assert results.project is not None
    assert results.project.name == "bookshop"
    assert results.project.entry_points == {
        "asgi": "bookshop.asgi:application", "wsgi": "bookshop.wsgi:application",
    }  # fmt: skip
    assert "embedded Postgres" in results.project.database
    assert results.scenario["workloads"] == REQUESTS
    assert {(r.variant, r.workload) for r in results.runs} == {
        (v, w) for v in standard_variants() for w in REQUESTS
    }
    for r in results.runs:
        assert r.status == "ok", (r.variant, r.workload, r.error)
        assert r.client is None  # a project calls no stub API
        assert r.restarts == []
        step = r.steps[0]
        assert step.measured and step.rps > 0 and step.errors == 0, (r.variant, r.workload)
        # Little's law in a closed step: 8 users, each waiting one response at a time.
        assert step.rps <= 8 / (step.latency_ms.p50 / 1000) * 1.5, (r.variant, r.workload)
        # It held connections to its database, and Postgres refused none.
        assert step.db_connections is not None and step.db_connections >= 1, r.variant
        assert step.db_refused == 0, (r.variant, r.workload)
    # A one-thread worker holds one persistent connection.
    sync = [s.db_connections for r in results.runs if r.variant == "gunicorn-sync" for s in r.steps]
    assert sync == [1, 1, 1]
    # Every server came with djbench's extra into the project's own environment.
    assert "not installed" not in results.environment.servers.values()
    # The seed ran once for the run: every server started from a copy of what it made.
    prepare_log = (out / "logs" / "prepare.log").read_text()
    assert prepare_log.count("seeded 5000 books") == 1, prepare_log[-2000:]
    report = (out / "report.md").read_text()
    assert "bookshop" in report
    for name in REQUESTS:
        assert f"## Workload {name}" in report
    # A project calls no stub API: no word of upstream clients or their pools.
    assert "Upstream clients" not in report and "aiohttp" not in report

    # From elsewhere, with the paths relative to there, and a request that answers 404.
    project = root / "examples" / "bookshop"
    config = project / "djbench.yaml"
    config.write_text(
        config.read_text().replace("requests:\n", "requests:\n  missing:\n    path: /gone/\n")
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    argv = [
        "../djbench/bookshop-env/bin/djbench", "run", "--project", "../djbench/examples/bookshop",
        "--profile", "smoke", "--variants", "gunicorn-gthread,uvicorn",
        "--workloads", "missing,book-list",
    ]  # fmt: skip
    partly = run(argv, elsewhere)
    # Some runs failed, the others measured: its own exit status, the cause as it happened.
    assert partly.returncode == EXIT_RUNS_FAILED, partly.stdout[-3000:] + partly.stderr[-3000:]
    said = "verify: GET http://127.0.0.1:8000/gone/ answered 404 (expected 200): Not Found"
    assert f"run failed gunicorn-gthread · missing: {said}" in partly.stdout
    assert f"failed (2 runs): {said} — missing / " in partly.stdout
    assert "exit status 3: 2 of 4 runs failed" in partly.stdout
    (there,) = (elsewhere / "results").iterdir()
    by = {(r.variant, r.workload): r for r in load_results(there).runs}
    assert by["uvicorn", "book-list"].status == "ok"
    assert by["uvicorn", "missing"].error == said


def test_an_endpoint_that_answers_500_fails_its_run_and_the_rest_go_on(tmp_path: Path) -> None:
    project = tmp_path / "bookshop"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    views = project / "shelf" / "views.py"
    views.write_text(
        views.read_text() + "\n\ndef boom(request: HttpRequest) -> HttpResponse:\n"
        "    raise RuntimeError('broken view')\n"
    )
    urls = project / "bookshop" / "urls.py"
    urls.write_text(urls.read_text().replace(
        '    path("up/", views.up),', '    path("up/", views.up),\n    path("boom/", views.boom),'
    ))  # fmt: skip
    config = project / "djbench.yaml"
    config.write_text(config.read_text().replace(
        "requests:\n", "requests:\n  boom:\n    path: /boom/\n"
    ))  # fmt: skip
    out = tmp_path / "out"
    done = run(
        [sys.executable, "-m", "djbench", "run", "--project", str(project), "--profile", "smoke",
         "--variants", "gunicorn-gthread,uvicorn", "--workloads", "boom,book-list",
         "--out", str(out), "--port", "18792"],
        REPO,
    )  # fmt: skip
    assert done.returncode == EXIT_RUNS_FAILED, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    assert "exit status 3: 2 of 4 runs failed" in done.stdout
    results = load_results(out)
    by = {(r.variant, r.workload): r for r in results.runs}
    for variant in ("gunicorn-gthread", "uvicorn"):
        failed = by[variant, "boom"]
        assert failed.status == "failed"
        assert failed.error is not None
        assert failed.error.startswith("verify: GET http://127.0.0.1:18792/boom/ answered 500")
        assert by[variant, "book-list"].status == "ok"


BREAKING_VIEWS = """

BROKEN = False


def break_it(request: HttpRequest) -> HttpResponse:
    \"\"\"Answers, and leaves this process answering 500 to everything else (its health
    path too), as a leaked resource would.\"\"\"
    global BROKEN
    BROKEN = True
    return HttpResponse("fine here", content_type="text/plain")


def broken(get_response):  # middleware
    def middleware(request: HttpRequest) -> HttpResponse:
        if BROKEN and request.path != "/break/":
            return HttpResponse("Server Error (500)", status=500)
        return get_response(request)

    return middleware
"""


def test_a_project_with_only_wsgi_py_runs_everywhere_and_a_broken_server_is_restarted(
    tmp_path: Path,
) -> None:
    """A project without asgi.py (older ones have none) runs every standard variant; a server
    that a request broke is restarted before the next request is verified and measured."""
    project = tmp_path / "bookshop"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "bookshop" / "asgi.py").unlink()
    views = project / "shelf" / "views.py"
    views.write_text(views.read_text() + BREAKING_VIEWS)
    urls = project / "bookshop" / "urls.py"
    route = '    path("up/", views.up),'
    urls.write_text(
        urls.read_text().replace(route, f'{route}\n    path("break/", views.break_it),')
    )
    settings = project / "bookshop" / "settings.py"
    text = settings.read_text()
    assert "MIDDLEWARE = [" in text
    settings.write_text(text.replace("MIDDLEWARE = [", 'MIDDLEWARE = [\n    "shelf.views.broken",'))
    config = project / "djbench.yaml"
    config.write_text(config.read_text().replace(
        "requests:\n", "requests:\n  break-it:\n    path: /break/\n"
    ))  # fmt: skip
    out = tmp_path / "out"
    done = run(
        [sys.executable, "-m", "djbench", "run", "--project", str(project), "--profile", "smoke",
         "--workloads", "break-it,book-list", "--out", str(out), "--port", "18795"],
        REPO,
    )  # fmt: skip
    assert done.returncode == EXIT_OK, done.stdout[-3000:] + done.stderr[-3000:]
    assert "bookshop has no asgi.py: its ASGI variants serve Django's get_asgi_application()" in (
        done.stdout
    )
    results = load_results(out)
    assert results.project is not None
    assert results.project.entry_points["asgi"] == "djbench.project.default_app:asgi"
    assert results.project.defaulted == ["asgi"]
    by = {(r.variant, r.workload): r for r in results.runs}
    assert {v for v, _ in by} == set(standard_variants())
    for variant in standard_variants():
        broke, after = by[variant, "break-it"], by[variant, "book-list"]
        assert broke.status == "ok" and after.status == "ok", (variant, after.error)
        # Its health path answered 500 after break-it's step: a fresh server for book-list.
        assert after.restarts == ["/up/ answered 500: Server Error (500)"], variant
        assert after.steps[0].measured and after.steps[0].errors == 0, variant


def test_the_team_s_own_database_is_used_as_it_is(tmp_path: Path) -> None:
    from djbench.backends.local.postgres import embedded_postgres

    with embedded_postgres(tmp_path / "theirs.log") as pg:
        url = pg.url()
        # The team's database, migrated and seeded by the team (here: by hand, beforehand).
        env = {
            **os.environ, "DATABASE_URL": url, "BOOKSHOP_SECRET_KEY": "x", "PYTHONPATH": "",
            "DJANGO_SETTINGS_MODULE": "bookshop.settings",
        }  # fmt: skip
        for argv in (
            ["migrate", "--noinput"],
            ["loaddata", "shelf/fixtures/authors.json"],
            ["seed_books", "--books", "50"],
        ):
            done = subprocess.run(
                [sys.executable, "manage.py", *argv], cwd=EXAMPLE, env=env,
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
        out = tmp_path / "out"
        ran = subprocess.run(
            [sys.executable, "-m", "djbench", "run", "--project", str(EXAMPLE), "--profile",
             "smoke", "--variants", "gunicorn-gthread", "--workloads", "book-list",
             "--out", str(out), "--port", "18793"],
            cwd=REPO, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
            env={**os.environ, "COLUMNS": "200", "DJBENCH_PROJECT_DATABASE_URL": url},
        )  # fmt: skip
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
        results = load_results(out)
        assert results.project is not None
        assert "did not create, migrate, seed or reset it" in results.project.database
        assert "did not create, migrate, seed or reset it" in ran.stdout
        assert [r.status for r in results.runs] == ["ok"]
        # The team's rows, untouched: 50 books, not the project file's 5,000 seed.
        count = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c",
             "from shelf.models import Book; print(Book.objects.count())"],
            cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert count.stdout.strip().splitlines()[-1] == "50", count.stdout + count.stderr
        # Its password is in no file of the run.
        for path in out.rglob("*"):
            if path.is_file():
                assert pg.password not in path.read_text(errors="replace"), path


def test_the_project_at_a_distance_from_its_database(tmp_path: Path) -> None:
    scenario = tmp_path / "far.yaml"
    scenario.write_text(
        "name: far\nwarmup_s: 0.5\nduration_s: 1.5\nrequest_timeout_s: 5\n"
        "closed: {concurrency: [8]}\nnetwork: {db_rtt_ms: [20]}\n"
    )
    out = tmp_path / "out"
    done = run(
        [sys.executable, "-m", "djbench", "run", "--project", str(EXAMPLE), "--scenario",
         str(scenario), "--variants", "gunicorn-gthread", "--workloads", "book-list",
         "--out", str(out), "--port", "18794"],
        REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_,) = load_results(out).runs
    assert run_.status == "ok", run_.error
    step = run_.steps[0]
    assert step.db_path is not None and step.db_path.round_trips > 0
    # Physics: each request waits its round trips to the database, 20 ms each, one after
    # the other (the proxy counted them).
    per_request = step.db_path.round_trips / step.requests
    assert step.latency_ms.p50 >= 0.9 * 20 * per_request, (step.latency_ms, per_request)
