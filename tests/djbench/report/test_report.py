"""Renderers on the small fixture results: markdown, self-contained HTML, terminal table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs
from rich.console import Console

from djbench.analysis import analyze
from djbench.report import render_html, render_markdown, render_reports, summary_table
from djbench.results import Results, Run, load_results

FIXTURE = Path(__file__).parents[1] / "fixtures" / "results-small.json"
EVIL = '<script>alert("x")</script>|[red]evil[/red]'


@pytest.fixture(scope="module")
def results() -> Results:
    return load_results(FIXTURE)


@pytest.fixture(scope="module")
def markdown(results: Results) -> str:
    return render_markdown(analyze(results))


@pytest.fixture(scope="module")
def html(results: Results) -> str:
    return render_html(analyze(results))


def renamed(results: Results, old: str, new: str) -> Results:
    runs = [r.model_copy(update={"variant": new}) if r.variant == old else r for r in results.runs]
    return results.model_copy(update={"runs": runs})


def section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def terminal_text(results: Results) -> str:
    console = Console(record=True, width=120)
    console.print(summary_table(results))
    return console.export_text()


def test_render_reports_writes_both_files(results: Results, tmp_path: Path) -> None:
    paths = render_reports(results, tmp_path / "out")
    assert [p.name for p in paths] == ["report.md", "report.html"]
    assert paths[0].read_text().startswith("# djbench report: fixture-small")
    assert "</html>" in paths[1].read_text()


def test_markdown_has_environment_scenario_and_verdicts(markdown: str) -> None:
    assert "| CPU | AMD EPYC 7B13 (2 CPUs) |" in markdown
    assert "| gunicorn | 23.0.0 |" in markdown
    assert "- Closed model (fixed concurrency): 1, 8, 32, 128" in markdown
    assert "- SLO upstream: p99 ≤ 2,000 ms, errors ≤ 1.0%" in markdown
    assert (
        "| upstream | p99 ≤ 2,000 ms, errors ≤ 1.0% | uvicorn · aiohttp | 149.8 | "
        "gunicorn-sync · requests | 93.62x | winner |"
    ) in markdown
    assert (
        "- **upstream**: uvicorn · aiohttp wins with 149.8 req/s at SLO; "
        "runner-up gunicorn-sync · requests 1.6 req/s (ratio 93.62x)."
    ) in markdown
    assert "- **cpu**: not significant: gunicorn-sync 98.0 req/s vs" in markdown
    assert "## How to read this" in markdown
    assert (
        "- Upstream clients: sync views: requests; async views: aiohttp "
        "(pool of 384 connections each)"
    ) in markdown


def test_markdown_has_one_row_per_variant_and_step(markdown: str) -> None:
    upstream = section(markdown, "## Workload upstream", "## Workload cpu")
    steps = upstream.split("What the stub API saw")[0]
    rows = [line for line in steps.splitlines() if line.startswith("| ")]
    # header + 6 gunicorn-sync + 6 uvicorn + 2 uvicorn-syncviews steps
    assert len(rows) == 1 + 6 + 6 + 2
    assert rows[0].startswith("| variant | model | load | req/s | p50 ms | p99 ms | errors |")
    assert (
        "| uvicorn · aiohttp | open | 150.4/s | 149.8 | 640.2 | 1,650.3 | 0 | 0 | 83% | 5.54 "
        "| 85.1 | ★ capacity |"
    ) in rows
    assert (
        "| uvicorn · aiohttp | closed | c=128 | 188.0 | 642.0 | 2,451.7 | 0 | — | 97% | 5.16 "
        "| 88.9 | ✗ p99 |" in rows
    )
    failed = (
        "| uvicorn-syncviews (crossed) · requests | closed | c=8 | — | — | — | 0 | — | — | — | — "
        "| failed |"
    )
    assert failed in rows
    assert "- gunicorn-sync · requests: knee at c=1 (1.6 req/s)" in upstream


def test_markdown_lists_warnings(markdown: str) -> None:
    warnings = section(markdown, "## Warnings", "## How to read this")
    assert "- cpu / uvicorn @ c=128: load side near saturation (85% of its CPUs" in (warnings)
    assert "run failed: server stopped answering at c=8" in warnings
    assert "too few requests for a stable p99 (16)" in warnings


def test_markdown_escapes_text_from_the_results(results: Results) -> None:
    text = render_markdown(analyze(renamed(results, "uvicorn", EVIL)))
    assert "<script>" not in text
    # A pipe would split the table cell; brackets would start a link.
    assert '&lt;script&gt;alert("x")&lt;/script&gt;\\|\\[red\\]evil\\[/red\\]' in text


def test_markdown_shows_a_run_that_failed_before_any_step(results: Results) -> None:
    broken = Run(
        variant="granian",
        server="granian",
        interface="asgi",
        views="async",
        workload="cpu",
        status="failed",
        error="granian: command not found",
    )
    text = render_markdown(analyze(results.model_copy(update={"runs": [*results.runs, broken]})))
    assert "| granian | — | — | — | — | — | — | — | — | — | — | failed |" in text
    assert "- cpu / granian: run failed: granian: command not found" in text


def test_partial_results_render(results: Results, tmp_path: Path) -> None:
    env = results.environment.model_dump() | {"usable_cpus": [0, 1], "platform": "Linux-6.1"}
    partial = results.model_copy(
        update={
            "runs": [],
            "finished_at": None,
            "environment": type(results.environment).model_validate(env),
        }
    )
    md_path, html_path = render_reports(partial, tmp_path)
    text = md_path.read_text()
    assert "not finished (partial results)" in text
    assert "No run recorded yet." in text
    assert "| usable cpus | 0, 1 |" in text
    assert "- SLO cpu: p99 ≤ 500 ms, errors ≤ 1.0%" in text
    assert "<p>No run recorded yet.</p>" in html_path.read_text()
    assert "No self-check fired." in text


def test_html_is_self_contained(html: str) -> None:
    assert html.count(get_plotlyjs()) == 1
    assert not re.search(r"<script[^>]*\ssrc=", html)
    # plotly.js itself holds links (its logo, its docs); everything we wrote must not.
    ours = html.replace(get_plotlyjs(), "")
    assert not re.search(r"""(href|src)=["']?https?:""", ours)
    assert not re.search("https?://", ours)


def test_html_has_the_markdown_content_and_plots(html: str) -> None:
    assert "<h2>Workload upstream</h2>" in html
    assert "uvicorn · aiohttp wins with 149.8 req/s at SLO" in html
    assert "not significant: gunicorn-sync 98.0 req/s" in html
    assert "<td>★ capacity</td>" in html
    assert "load side near saturation" in html
    # 4 plots per workload: throughput, closed latency, open latency, CPU per request.
    assert html.count('class="plotly-graph-div"') == 8
    for title in (
        "Throughput vs concurrency (closed model)",
        "Latency vs concurrency (closed model)",
        "Latency vs arrival rate (open model)",
        "CPU per request vs throughput (both models)",
    ):
        assert html.count(title) == 2
    assert '"name":"uvicorn-syncviews (crossed) \\u00b7 requests p99"' in html


def test_html_escapes_a_malicious_variant_name(results: Results) -> None:
    text = render_html(analyze(renamed(results, "uvicorn", EVIL)))
    assert '<script>alert("x")' not in text
    assert "<td>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;|[red]evil[/red]</td>" in text
    # Inside the plot data the name is HTML-escaped, then JSON-escaped by plotly.
    assert "\\u003cscript" not in text
    assert "&lt;script&gt;" in section(text, '<div class="plots">', "<h2>Workload cpu</h2>")


def test_terminal_table(results: Results) -> None:
    lines = terminal_text(results).splitlines()
    text = "\n".join(lines)
    assert lines[0].startswith("djbench: fixture-small")
    header = next(line for line in lines if "workload" in line)
    assert re.search(
        r"variant .* best req/s .* req/s at SLO .* p99 ms .* CPU ms/req .* verdict", header
    )

    def row(variant: str, after: str) -> str:
        start = text.index(after)
        return next(line for line in text[start:].splitlines() if f" {variant} " in line)

    assert re.search(
        r"uvicorn · aiohttp\s+│\s+188\.0 │\s+149\.8 │\s+1,650\.3 │\s+5\.54 │ ★ winner",
        row("uvicorn · aiohttp", "upstream"),
    )
    assert "runner-up" in row("gunicorn-sync · requests", "upstream")
    assert "failed" in row("uvicorn-syncviews (crossed) · requests", "upstream")
    assert re.search(r"98\.0 │\s+98\.0 │\s+95\.3 │\s+10\.10 │ ≈ tie", row("gunicorn-sync", "│ cpu"))
    assert "≈ tie" in row("uvicorn-syncviews (crossed)", "│ cpu")
    assert "p99 ≤ 2,000 ms" in text
    assert (
        "cpu (p99 ≤ 500 ms): not significant: gunicorn-sync 98.0 req/s vs "
        "uvicorn-syncviews (crossed)"
    ) in text
    assert "15 self-check warning(s)" in text


def test_terminal_table_prints_markup_literally(results: Results) -> None:
    evil = renamed(results, "uvicorn", "[red]evil[/red]")
    scenario = evil.scenario | {"name": "[bold]x[/] [a-z0-9]+"}
    text = terminal_text(evil.model_copy(update={"scenario": scenario}))
    assert "[red]evil[/red]" in text
    assert text.splitlines()[0].rstrip() == "djbench: [bold]x[/] [a-z0-9]+"


def test_markdown_shows_what_the_stub_saw(markdown: str) -> None:
    upstream = section(markdown, "## Workload upstream", "## Workload cpu")
    table = upstream.split("What the stub API saw (upstream calls of the measured window):")[1]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0] == (
        "| variant | load | calls/s | new connections | connections per call | peak in flight |"
    )
    assert "| uvicorn · aiohttp | c=128 | 564.0 | 3 | 0.001 | 384 |" in rows
    # Workloads that make no upstream calls have no such table.
    assert "What the stub API saw" not in markdown.split("## Workload cpu")[1]


def test_html_shows_what_the_stub_saw(html: str) -> None:
    assert "<th>connections per call</th>" in html
    assert '<td>uvicorn · aiohttp</td><td>c=128</td><td class="num">564.0</td>' in html
