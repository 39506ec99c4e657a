"""Progress lines print outside text (labels, phases, step errors) literally, keep our colours."""

from __future__ import annotations

import io

from rich.console import Console

from djbench.model.results import Latency, Step
from djbench.model.setup import LoadStep
from djbench.outputs.progress import RichProgress

SELECTOR = 'pod=~"gunicorn-gthread-[a-z0-9]+-[a-z0-9]+"'
MARKUP = "[red]x[/red] [bold]y[/] :thumbs_up:"
LABEL = "gunicorn [gthread] · [b]httpx[/b]"


def console(terminal: bool = False) -> Console:
    return Console(
        file=io.StringIO(), record=True, width=200, force_terminal=terminal, color_system="standard"
    )


def step(status: str = "ok", error: str | None = None) -> Step:
    return Step(
        model="closed", concurrency=8, rate=None, duration_s=2.0, requests=200, errors=3,
        dropped=0, rps=100.0, latency_ms=Latency(p50=1, p90=2, p95=3, p99=4, max=5), cpu_s=1.0,
        cpu_util=0.5, cpu_ms_per_req=10.0, rss_mib=50.0, status=status, error=error,
    )  # fmt: skip


def test_a_failed_step_prints_its_error_literally() -> None:
    out = console()
    with RichProgress(out, 2) as progress:
        progress.step_done(LABEL, "upstream", step("failed", f"no data for {SELECTOR}; {MARKUP}"))
    text = out.export_text(clear=False)
    assert f"failed {LABEL:<28} upstream  c=8        no data for {SELECTOR}; {MARKUP}" in text
    assert "\x1b[31mfailed\x1b[0m" in out.export_text(styles=True)


def test_an_ok_step_prints_its_run_label_literally() -> None:
    out = console()
    with RichProgress(out, 2) as progress:
        progress.step_done(LABEL, "[cpu]", step())
    line = out.export_text(clear=False).splitlines()[0]
    assert line.startswith(f"  ok     {LABEL:<28} [cpu]     c=8        ")
    assert line.endswith("  3 errors")
    styled = out.export_text(styles=True)
    assert "\x1b[32mok\x1b[0m" in styled
    assert "\x1b[33m  3 errors\x1b[0m" in styled


def test_a_phase_prints_literally_without_a_terminal() -> None:
    out = console()
    with RichProgress(out, 2) as progress:
        progress.phase(f"starting {LABEL} ({MARKUP} upstream)")
    assert out.export_text(clear=False).startswith(f"… starting {LABEL} ({MARKUP} upstream)\n")
    assert "\x1b[2m" in out.export_text(styles=True)


def test_the_bar_shows_phases_and_steps_literally() -> None:
    out = console(terminal=True)
    with RichProgress(out, 2) as progress:
        progress.phase(f"restarting {LABEL}: {SELECTOR}")
        progress._bar.refresh()
        progress.step_started(LABEL, "[cpu]", LoadStep("closed", 8))
    text = out.export_text(clear=False)
    assert f"restarting {LABEL}: {SELECTOR}" in text
    assert f"{LABEL} · [cpu] · closed c=8" in text


LONG = "gunicorn-uvicorn-syncviews (crossed) · httpx2"


def test_without_a_terminal_each_event_is_one_whole_line() -> None:
    """CI logs and pipes: no live bar, and no line wrapped at rich's 80 columns or split by a
    newline in an error."""
    out = Console(file=io.StringIO(), record=True, width=80)
    assert not out.is_terminal
    with RichProgress(out, 3) as progress:
        progress.phase(f"starting {LONG} (httpx2 upstream) on CPU 1, Postgres on CPU 0")
        progress.step_started(LONG, "upstream", LoadStep("closed", 128))
        progress.step_done(LONG, "upstream", step())
        progress.step_done(
            LONG, "upstream", step("failed", "k6 exited 107\n  every request\ttimed out")
        )
        progress.skipped(1)
    lines = out.export_text().splitlines()
    assert lines == [
        f"… starting {LONG} (httpx2 upstream) on CPU 1, Postgres on CPU 0",
        f"  ok     {LONG} upstream  c=8            100.0 req/s  p50      1.0 ms  p99      4.0 ms"
        "  cpu  50%  3 errors",
        f"  failed {LONG} upstream  c=8        k6 exited 107 every request timed out",
    ]
    assert max(map(len, lines)) > 80
