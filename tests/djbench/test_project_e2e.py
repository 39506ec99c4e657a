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

from djbench.results import load_results
from djbench.variants import standard_variants

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "examples" / "bookshop"
REQUESTS = ["book-list", "book-page", "add-review"]


def run(argv: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "160", "PYTHONPATH": ""},
    )  # fmt: skip


def test_the_example_runs_under_every_standard_variant_from_its_own_environment(
    tmp_path: Path,
) -> None:
    # The README's two commands ("Your own project"), with the smoke profile's short steps.
    env_dir = tmp_path / "bookshop-env"
    made = run([sys.executable, "-m", "venv", str(env_dir)], REPO)
    assert made.returncode == 0, made.stderr
    pip = [str(env_dir / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check"]
    installed = run([*pip, "-r", "examples/bookshop/requirements.txt", ".[servers]"], REPO)
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    out = tmp_path / "out"
    argv = [str(env_dir / "bin" / "djbench"), "run", "--project", "examples/bookshop"]
    done = run([*argv, "--profile", "smoke", "--out", str(out), "--port", "18791"], REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "project bookshop (Django 5.2" in done.stdout

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
        step = r.steps[0]
        assert step.rps > 0 and step.errors == 0, (r.variant, r.workload, step)
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
    report = (out / "report.md").read_text()
    for name in REQUESTS:
        assert f"## {name}" in report or name in report
    assert "bookshop" in report


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
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    assert "some runs failed" in done.stdout
    results = load_results(out)
    by = {(r.variant, r.workload): r for r in results.runs}
    for variant in ("gunicorn-gthread", "uvicorn"):
        failed = by[variant, "boom"]
        assert failed.status == "failed"
        assert failed.error is not None
        assert failed.error.startswith("verify: GET http://127.0.0.1:18792/boom/ answered 500")
        assert by[variant, "book-list"].status == "ok"


def test_the_team_s_own_database_is_used_as_it_is(tmp_path: Path) -> None:
    from djbench.local.postgres import embedded_postgres

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
