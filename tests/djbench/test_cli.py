"""The CLI as a user meets it: a subprocess, its exit status and what it prints."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from live_servers import ctrl_c_as_at_a_terminal
from rich.console import Console

from djbench.model.names import run_label
from djbench.run.outcome import EXIT_NOTHING_MEASURED

FIXTURE = Path(__file__).parent / "fixtures" / "results-small.json"
EXAMPLE = Path(__file__).parents[2] / "examples" / "bookshop"


def djbench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "djbench", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("ERROR: "), done.stderr
    assert fragment in lines[-1]
    assert "Traceback" not in done.stdout + done.stderr


def test_variants_lists_every_variant() -> None:
    done = djbench("variants")
    assert done.returncode == 0
    for name in ("gunicorn-sync", "granian", "uvicorn-syncviews (crossed)"):
        assert name in done.stdout


def test_variant_names_for_scripts() -> None:
    standard = djbench("variants", "--names").stdout.split()
    every = djbench("variants", "--names", "--all").stdout.split()
    assert standard[0] == "gunicorn-sync"
    assert len(standard) == 7
    assert set(standard) < set(every)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "--variants", "nope"], "unknown variant nope"),
        (["run", "--workloads", "cpu,nope"], "unknown workload nope"),
        (["run", "--profile", "huge"], "unknown profile 'huge'"),
        (["serve", "nope"], "unknown variant nope"),
        (["report", "/nonexistent/dir"], "no such file"),
        (["run", "--project", "/nonexistent"], "--project takes a project's directory holding"),
        (["run", "--database-url", "postgres://h/x"], "give --project too"),
        (["serve", "uvicorn", "--database-url", "postgres://h/x"], "give --project too"),
        (
            ["run", "--project", str(EXAMPLE), "--variants", "uvicorn-s2a,uvicorn"],
            "--variants: uvicorn-s2a differ from a standard variant only in benchapp's views",
        ),
        (["run", "--project", str(EXAMPLE), "--workloads", "cpu"], "unknown request cpu"),
        (["serve", "uvicorn-raw", "--project", str(EXAMPLE)], "only in benchapp's views"),
        (["serve", "uvicorn", "--shape", "workers"], "--shape: 'workers': give each of"),
        (["serve", "uvicorn", "--shape", "cpu=1"], "--shape: cpu: unknown key; allowed here"),
        (["serve", "uvicorn", "--shape", "workers=0"], "--shape: workers: Input should be"),
    ],
)
def test_bad_input_is_one_line(args: list[str], fragment: str) -> None:
    assert_one_line_error(djbench(*args), fragment)


def test_a_broken_project_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "djbench.yaml").write_text(
        "settings: shop.settings\nrequests:\n  home:\n    path: /\n    expect: 200\n"
    )
    done = djbench("run", "--project", str(tmp_path), "--out", str(tmp_path / "out"))
    assert_one_line_error(done, "requests.home.expect: unknown key; allowed here: method, path")
    (tmp_path / "djbench.yaml").write_text("settings: shop.settings\nrequests: {home: {path: /}}")
    done = djbench("run", "--project", str(tmp_path), "--out", str(tmp_path / "out"))
    assert_one_line_error(done, "settings shop.settings failed to load: ModuleNotFoundError")
    assert not (tmp_path / "out").exists()  # nothing started, nothing written


def test_malformed_scenario(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("closed:\n  concurrency: [1, oops]\n")
    assert_one_line_error(djbench("run", "--scenario", str(bad)), "closed.concurrency.1")
    bad.write_text("closed: [1\n")
    assert_one_line_error(djbench("run", "--scenario", str(bad)), "not valid YAML")


def test_missing_k6(tmp_path: Path) -> None:
    done = djbench("run", "--profile", "smoke", env={"DJBENCH_K6": str(tmp_path / "k6")})
    assert_one_line_error(done, "k6 not found")


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        done = djbench("run", "--profile", "smoke", "--port", str(port), "--out", str(tmp_path))
    assert_one_line_error(done, f"port {port} on 127.0.0.1 is in use")
    assert not (tmp_path / "results.json").exists()


def test_report_rerenders_from_results(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(FIXTURE.read_text())
    done = djbench("report", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "report.md").is_file()
    assert (tmp_path / "report.html").is_file()


def test_report_prints_paths_literally(tmp_path: Path) -> None:
    """Brackets in a path are not rich markup: the printed path is the real one."""
    out = tmp_path / "[red]x-[a-z0-9]+"
    out.mkdir()
    (out / "results.json").write_text(FIXTURE.read_text())
    done = djbench("report", str(out), env={"COLUMNS": "1000"})
    assert done.returncode == 0, done.stderr
    assert f"wrote {out / 'report.md'}, {out / 'report.html'}\n" in done.stdout


def test_interrupted_run_prints_kept_paths_literally(tmp_path: Path) -> None:
    from djbench.outputs.finish import after_interrupt

    out = tmp_path / "[bold]run-[a-z0-9]"
    out.mkdir()
    (out / "results.json").write_text(FIXTURE.read_text())
    err = Console(record=True, width=1000)
    after_interrupt(err, out)
    lines = err.export_text().splitlines()
    assert lines[0] == "interrupted: every process was stopped"
    assert lines[1].endswith(f" measured steps: {out / 'report.md'}, {out / 'report.html'}")


def test_report_refuses_another_schema(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text('{"schema": "something/else"}')
    assert_one_line_error(djbench("report", str(tmp_path)), "unsupported results schema")


def test_serve_runs_one_variant_until_ctrl_c(tmp_path: Path) -> None:
    """`serve` prints the URL, the variant answers in the shape asked (wrk's cross-check of a
    shaped run), Ctrl-C stops everything it started."""
    port = "18799"
    argv = ["serve", "uvicorn", "--port", port, "--seed-rows", "100", "--shape", "workers=2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "djbench", *argv],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
        preexec_fn=ctrl_c_as_at_a_terminal,
    )
    try:
        deadline = time.monotonic() + 90
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/async/db-read", timeout=5).json()
            except httpx.HTTPError:
                time.sleep(0.3)
        assert body is not None, "the variant never answered"
        assert body["count"] == 100
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children
        # uvicorn's two workers: processes its supervisor spawned.
        workers = [c.cmdline() for c in children if "multiprocessing" in " ".join(c.cmdline())]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert f"serves http://127.0.0.1:{port}" in out
    assert "uvicorn 2 workers · 1 CPU (aiohttp upstream) serves" in out
    assert len(workers) >= 2, workers
    assert f"http://127.0.0.1:{port}/async/cpu" in out
    assert "Traceback" not in err
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [c.cmdline() for c in alive]


def test_verification_uses_the_scenarios_parameters(tmp_path: Path) -> None:
    """A bad `params` value is caught by the verify request, before anything is measured."""
    scenario = tmp_path / "bad-params.yaml"
    scenario.write_text(
        "workloads: [sleep]\nseed_rows: 100\nwarmup_s: 0\nduration_s: 1\n"
        "closed: {concurrency: [1]}\nparams: {sleep: {ms: 'abc'}}\n"
    )
    out = tmp_path / "out"
    done = djbench(
        "run", "--scenario", str(scenario), "--variants", "uvicorn", "--out", str(out),
        "--port", "18798",
    )  # fmt: skip
    # Nothing was measured: its own exit status, the cause on the terminal as it happened.
    assert done.returncode == EXIT_NOTHING_MEASURED, done.stdout + done.stderr
    run = json.loads((out / "results.json").read_text())["runs"][0]
    assert run["status"] == "failed"
    assert "answered 400" in run["error"]
    assert "ms=abc" in run["error"]
    assert run["steps"] == []
    assert "run failed uvicorn · sleep: verify: GET " in done.stdout
    assert "sleep (p99 ≤ 500 ms): no measurement: verify: GET" in done.stdout
    assert "exit status 5: nothing was measured" in done.stdout


def test_report_without_a_terminal_prints_whole_names(tmp_path: Path) -> None:
    """A CI log or `| tee`: four gunicorn variants must not all read `gunicorn…`."""
    from djbench.model.results_file import load_results, write_results

    results = load_results(FIXTURE)
    names = {"gunicorn-sync": "gunicorn-gthread", "uvicorn": "gunicorn-uvicorn"}
    names["uvicorn-syncviews"] = "gunicorn-uvicorn-syncviews"
    runs = [r.model_copy(update={"variant": names.get(r.variant, r.variant)}) for r in results.runs]
    renamed = results.model_copy(update={"runs": runs})
    write_results(renamed, tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    done = subprocess.run(
        [sys.executable, "-m", "djbench", "report", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    labels = {run_label(r) for r in runs}
    assert len(labels) == 6
    for label in labels:
        assert any(f"  {label}  " in line for line in lines), (label, done.stdout)
    assert "…" not in done.stdout
    assert not any(c in done.stdout for c in "│┃")
    checks = next(line for line in lines if "self-check warnings: " in line)
    assert "few-requests ×" in checks
    assert checks.endswith(f"; see {tmp_path / 'report.md'}")
    assert lines[-1] == f"wrote {tmp_path / 'report.md'}, {tmp_path / 'report.html'}"


def test_plan_prints_pods_and_writes_values(tmp_path: Path) -> None:
    plan_fixture = FIXTURE.with_name("results-plan.json")
    done = djbench("plan", str(plan_fixture), "--target-rps", "1000", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "db-read: 1000 req/s × 1.25, SLO p99 ≤ 500 ms" in lines
    row = next(line for line in lines if line.startswith("gunicorn-gthread "))
    assert row.split()[1:4] == ["3", "402.3", "[395.5–410.0]"]
    assert "64 = 4 × 16" in row
    assert "uvicorn cannot meet the SLO: at its lightest load (c=8): p99 620 ms > 500 ms" in (
        done.stdout
    )
    assert (tmp_path / "db-read" / "gunicorn-gthread.yaml").is_file()


def test_plan_of_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    done = djbench("plan", str(tmp_path / "nowhere"), "--target-rps", "10")
    assert_one_line_error(done, "no such file")
