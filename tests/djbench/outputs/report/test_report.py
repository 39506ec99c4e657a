"""Renderers on the small fixture results: markdown, self-contained HTML, terminal table."""

from __future__ import annotations

import base64
import io
import re
from html import escape
from pathlib import Path

import pytest
from rich.console import Console

from djbench.analysis.core import analyze
from djbench.model.pod import PodFacts, Shape
from djbench.model.results import Distance, PathCheck, ProxyTraffic, Results, Run
from djbench.model.results_file import load_results
from djbench.outputs.report import print_summary, render_html, render_markdown, render_reports
from djbench.outputs.report.formats import md_escape
from djbench.outputs.report.html import data_uri
from djbench.outputs.report.plots import workload_svgs

FIXTURE = Path(__file__).parents[2] / "fixtures" / "results-small.json"
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
    console = Console(record=True, width=120, force_terminal=True)
    print_summary(console, results)
    return console.export_text()


def test_render_reports_writes_both_files(results: Results, tmp_path: Path) -> None:
    paths = render_reports(results, tmp_path / "out")
    assert [p.name for p in paths] == ["report.md", "report.html"]
    assert paths[0].read_text().startswith("# djbench report: fixture-small")
    assert "</html>" in paths[1].read_text()
    # The markdown's figures sit next to it, where its image links point.
    plots = sorted(p.name for p in (tmp_path / "out" / "plots").iterdir())
    assert plots == ["cpu.svg", "upstream.svg"]
    assert "](plots/cpu.svg)" in paths[0].read_text()


def test_markdown_has_environment_scenario_and_verdicts(markdown: str) -> None:
    assert "| CPU | AMD EPYC 7B13 (2 CPUs) |" in markdown
    assert "| gunicorn | 23.0.0 |" in markdown
    assert "- Closed model (fixed concurrency): 1, 8, 32, 128" in markdown
    assert "- SLO upstream: p99 ≤ 2,000 ms, errors ≤ 1.0%" in markdown
    assert "## How to read this" in markdown
    assert (
        "- Upstream clients: sync views: requests; async views: aiohttp "
        "(pool of 384 connections each)"
    ) in markdown


def test_markdown_leads_with_the_answer(results: Results, markdown: str) -> None:
    """The verdicts first, then per workload: its verdict, its plot, its tables; the
    self-checks, the scenario and the environment at the end."""
    analysis = analyze(results)
    lines = markdown.splitlines()
    # Under the title and the one line of provenance: every verdict, as analysis words it.
    summary = lines[
        lines.index("# djbench report: fixture-small") : lines.index("## Workload upstream")
    ]
    for w in ("upstream", "cpu"):
        assert f"- **{w}**: {md_escape(analysis.verdict_for(w).text)}" in summary
    for w, after in (("upstream", "## Workload cpu"), ("cpu", "## Self-checks")):
        body = [line for line in section(markdown, f"## Workload {w}", after).splitlines() if line]
        assert body[1] == f"**{md_escape(analysis.verdict_for(w).text)}**"
        image = next(i for i, line in enumerate(body) if line.startswith("!["))
        table = next(i for i, line in enumerate(body) if line.startswith("| variant |"))
        assert body[image].endswith(f"](plots/{w}.svg)")
        assert 2 <= image < table
    order = ["## Workload upstream", "## Workload cpu", "## Self-checks", "## Scenario"]
    positions = [markdown.index(heading) for heading in [*order, "## Environment"]]
    assert positions == sorted(positions)
    assert "| Python |" in markdown.split("## Environment")[1]


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


def test_markdown_groups_warnings_by_kind(results: Results, markdown: str) -> None:
    analysis = analyze(results)
    checks = section(markdown, "## Self-checks", "## How to read this")
    few = [w for w in analysis.warnings if w.kind == "few-requests"]
    assert len(few) > 1
    # One paragraph per kind, with its count and the runs and loads it fired at...
    assert (
        f"**few-requests ×{len(few)}**: steps with too few requests for a stable p99. Where: "
        "upstream / gunicorn-sync · requests @ c=1, c=8, c=32, c=128, 1.28/s, 1.92/s; "
    ) in checks
    kinds = {w.kind for w in analysis.warnings}
    assert len(re.findall(r"^\*\*[a-z-]+ ×\d+\*\*: ", checks, re.M)) == len(kinds)
    # ...and each message only inside that kind's collapsed <details>.
    details = re.findall(r"<details>.*?</details>", checks, re.S)
    assert len(details) == len(kinds)
    assert sum(d.count("\n- ") for d in details) == len(analysis.warnings)
    assert "- cpu / uvicorn @ c=128: load side near saturation (85% of its CPUs" in checks
    assert "run failed: server stopped answering at c=8" in checks
    # The counts also head the report and each workload.
    top = markdown.split("## Workload upstream")[0]
    assert f"few-requests ×{len(few)}" in top
    cpu = section(markdown, "## Workload cpu", "## Self-checks")
    assert "Self-checks: " in cpu
    assert "load-saturation ×1" in cpu
    assert "few-requests" not in cpu


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
    assert "**failed-run ×2**: " in text


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
    assert not (tmp_path / "plots").exists()
    assert "not finished (partial results)" in text
    assert "No run recorded yet." in text
    assert "| usable cpus | 0, 1 |" in text
    assert "- SLO cpu: p99 ≤ 500 ms, errors ≤ 1.0%" in text
    assert "<p>No run recorded yet.</p>" in html_path.read_text()
    assert "No self-check fired." in text


def test_html_is_self_contained(html: str) -> None:
    assert "<script" not in html
    assert not re.search(r"""(href|src)=["']?https?:""", html)
    assert not re.search("https?://", html)
    # Each plot is an SVG data URI: no file next to the report is needed.
    assert html.count('<img class="plot" src="data:image/svg+xml;base64,') == 2


def test_html_leads_with_the_answer(results: Results, html: str) -> None:
    analysis = analyze(results)
    for w, after in (("upstream", "<h2>Workload cpu</h2>"), ("cpu", '<h2 id="self-checks">')):
        body = section(html, f"<h2>Workload {w}</h2>", after)
        verdict = f'<p class="verdict">{escape(analysis.verdict_for(w).text)}</p>'
        assert body.splitlines()[1] == verdict
        assert body.index("<img") < body.index("<table>")
    assert html.index("<h2>Scenario</h2>") < html.index("<h2>Environment</h2>")
    assert html.index('<h2 id="self-checks">') < html.index("<h2>Environment</h2>")
    assert html.index("<h2>Environment</h2>") > html.index("<h2>Workload cpu</h2>")


def test_html_plot_is_the_figure(results: Results, html: str) -> None:
    analysis = analyze(results)
    svgs = workload_svgs(analysis)
    uri = re.search(
        r'<img class="plot" src="([^"]+)"', section(html, "Workload cpu", 'id="self-checks"')
    )
    assert uri is not None
    assert uri.group(1) == data_uri(svgs["cpu"])
    svg = base64.b64decode(uri.group(1).split(",", 1)[1]).decode()
    assert svg.startswith("<?xml") and "<svg" in svg


def test_html_has_the_markdown_content(results: Results, html: str) -> None:
    analysis = analyze(results)
    assert "<h2>Workload upstream</h2>" in html
    for v in analysis.verdicts:
        assert f"<li><strong>{v.workload}</strong>: {escape(v.text)}</li>" in html
    assert "<td>★ capacity</td>" in html
    assert "load side near saturation" in html
    few = sum(w.kind == "few-requests" for w in analysis.warnings)
    assert f'<strong class="checks">few-requests ×{few}</strong>' in html
    assert html.count("<details>") == len({w.kind for w in analysis.warnings})


def test_html_escapes_a_malicious_variant_name(results: Results) -> None:
    text = render_html(analyze(renamed(results, "uvicorn", EVIL)))
    assert '<script>alert("x")' not in text
    assert "<td>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;|[red]evil[/red]</td>" in text


def test_terminal_table(results: Results) -> None:
    analysis = analyze(results)
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
        r"uvicorn · aiohttp\s+│\s+188\.0 │\s+149\.8 │\s+1,650\.3 │\s+5\.54 │ ★ best at SLO",
        row("uvicorn · aiohttp", "upstream"),
    )
    assert "failed" in row("uvicorn-syncviews (crossed) · requests", "upstream")
    assert re.search(
        r"98\.0 │\s+98\.0 │\s+95\.3 │\s+10\.10 │ ★ best", row("gunicorn-sync", "│ cpu")
    )
    assert "p99 ≤ 2,000 ms" in text
    joined = " ".join(line.strip() for line in lines)
    assert f"cpu (p99 ≤ 500 ms): {analysis.verdict_for('cpu').text}" in joined
    few = sum(w.kind == "few-requests" for w in analysis.warnings)
    assert f"{len(analysis.warnings)} self-check warnings: " in joined
    assert f"few-requests ×{few}" in joined


def test_summary_without_a_terminal_is_plain_and_whole(results: Results) -> None:
    """CI logs and pipes: no box, no wrap, every variant name whole on its own line."""
    long = results
    for old, new in [("gunicorn-sync", "gunicorn-gthread"), ("uvicorn", "gunicorn-uvicorn")]:
        long = renamed(long, old, new)
    long = renamed(long, "uvicorn-syncviews", "gunicorn-uvicorn-syncviews")
    analysis = analyze(long)
    out = Console(file=io.StringIO(), record=True, width=80)  # what rich assumes in a pipe
    assert not out.is_terminal
    print_summary(out, long, analysis, Path("/runs/x/report.md"))
    lines = out.export_text().splitlines()
    assert lines[0] == "djbench: fixture-small"
    assert re.fullmatch(
        r"workload +variant +best req/s +req/s at SLO +p99 ms +CPU ms/req +verdict", lines[1]
    )
    assert not any(c in out.export_text() for c in "│┃━…")
    labels = {s.label for s in analysis.runs}
    assert "gunicorn-uvicorn-syncviews (crossed) · requests" in labels
    for label in labels:
        assert any(re.search(rf"(^|  ){re.escape(label)}  ", line) for line in lines), label
    row = next(line for line in lines if "gunicorn-uvicorn · aiohttp" in line)
    assert re.search(r"188\.0 +149\.8 +1,650\.3 +5\.54  ★ best at SLO$", row)
    assert all(line == line.rstrip() for line in lines)
    # The verdicts whole, one line each; the self-checks counted by kind, pointing at the report.
    for v in analysis.verdicts:
        assert any(line.endswith(v.text) for line in lines)
    assert lines[-1].startswith(f"{len(analysis.warnings)} self-check warnings: failed-run ×1, ")
    assert lines[-1].endswith("; see /runs/x/report.md")


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


def _searched(results: Results) -> Results:
    """The fixture with uvicorn's cpu capacity searched in rounds 0 and 1."""
    [cpu] = [r for r in results.runs if r.variant == "uvicorn" and r.workload == "cpu"]
    base = cpu.steps[0]

    def at(rate: float, p99: float) -> object:
        latency = base.latency_ms.model_copy(update={"p99": p99})
        return base.model_copy(
            update={
                "model": "open",
                "concurrency": None,
                "rate": rate,
                "rps": rate,
                "latency_ms": latency,
            }
        )

    search = {"purpose": "search", "round": 0, "steps": [at(400, 125), at(500, 2000)]}
    confirm = {"purpose": "confirm", "round": 1, "steps": [at(420, 100), at(525, 200)]}
    rounds = [cpu.model_copy(update=search), cpu.model_copy(update=confirm)]
    return results.model_copy(update={"runs": [*results.runs, *rounds]})


def test_reports_show_each_rounds_capacity_search(results: Results) -> None:
    searched = _searched(results)
    markdown = render_markdown(analyze(searched))
    cpu = section(markdown, "## Workload cpu", "## Self-checks")
    table = cpu.split("Capacity searches (open model; each round on a freshly started server):")[1]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0] == "| variant | round | rates tried | capacity at SLO |"
    # Round 0 bracketed 400..500 (p99 125 then 2000 ms against 500: halfway on the log is
    # 1, at 450); round 1 never missed: a lower bound.
    assert rows[1] == "| uvicorn | 0 | 400/s ✓, 500/s ✗ | 450.0 |"
    assert rows[2] == "| uvicorn | 1 | 420/s ✓, 525/s ✓ | ≥525.0 |"
    assert "Capacity searches" not in section(markdown, "## Workload upstream", "## Workload cpu")
    html = render_html(analyze(searched))
    assert '<td>uvicorn</td><td class="num">1</td><td>420/s ✓, 525/s ✓</td>' in html


def _at_distances(results: Results) -> Results:
    """The fixture's cpu runs measured again at db +0 and +100 ms, with what the proxy saw."""
    runs = []
    for rtt in (0.0, 100.0):
        for run in (r for r in results.runs if r.workload == "cpu" and r.status == "ok"):
            steps = [
                s.model_copy(
                    update={
                        "db_path": ProxyTraffic(
                            connections=2, round_trips=s.requests * 2, cpu_s=0.05
                        )
                    }
                )
                for s in run.steps
            ]
            check = PathCheck(
                path="db",
                target_ms=rtt,
                connections=16,
                p50_ms=rtt + 0.2,
                p99_ms=rtt + 0.9,
                ok=True,
            )
            runs.append(
                run.model_copy(
                    update={"distance": Distance(db_rtt_ms=rtt), "paths": [check], "steps": steps}
                )
            )
    return results.model_copy(update={"runs": runs})


def test_reports_show_each_distance_its_checks_and_capacity_against_it(
    results: Results, tmp_path: Path
) -> None:
    far = _at_distances(results)
    analysis = analyze(far)
    assert len(analysis.verdicts_for("cpu")) == 2
    render_reports(far, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "- **cpu @ db +100 ms**:" in text and "- **cpu @ db +0 ms**:" in text
    assert "![cpu: capacity at SLO vs round-trip time](plots/cpu-by-distance.svg)" in text
    figure = (tmp_path / "plots" / "cpu-by-distance.svg").read_text()
    assert figure.startswith("<?xml")
    # The path checks, once per run's server, and the proxy's counts per request.
    assert "| uvicorn @ db +100 ms | db | 100 ms | 16 | 100.2 | 100.9 | ok |" in text
    assert "| 2.00 |" in text  # two round trips per request
    html = (tmp_path / "report.html").read_text()
    assert "capacity at SLO vs round-trip time" in html
    assert "<strong>cpu @ db +100 ms</strong>" in html


def test_both_reports_name_a_kubernetes_run_s_pod_and_its_shapes(results: Results) -> None:
    half = PodFacts(
        name="uvicorn-5f6-x1", qos_class="Guaranteed", cpu_request="500m", cpu_limit="500m",
        exclusive_cpus=False,
    )  # fmt: skip
    runs = [
        r.model_copy(update={"pod": half, "shape": Shape(workers=1, cpus=0.5)})
        if (r.variant, r.workload) == ("uvicorn", "cpu")
        else r
        for r in results.runs
    ]
    analysis = analyze(results.model_copy(update={"runs": runs}))
    line = "pod uvicorn-5f6-x1: Guaranteed, CPU 500m (shares the node's CPUs)"
    assert line in render_markdown(analysis)
    assert line.replace("'", "&#39;") in render_html(analysis)  # Jinja's autoescape
    # The shaped run is a candidate of its own, in the pod shapes table of its workload.
    shaped = "| uvicorn · 1 worker · 0.5 CPU |"
    assert shaped in render_markdown(analysis)
    assert "Pod shapes" in render_html(analysis)
