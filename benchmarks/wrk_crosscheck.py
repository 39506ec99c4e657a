"""Does djbench's throughput agree with wrk's? A benchmark, not a test: it prints both.

For each case (workload, concurrency, variant), one after the other, never two loads at once:

1. ``bin/djbench serve VARIANT`` (Postgres, the stub API, the server pinned to the last CPU),
   then ``taskset -c 0 wrk -t1 -cN -d30s --timeout 5s URL`` against it; the server is stopped
   with SIGTERM and every process of its tree checked gone. wrk counts the requests completed
   in its run, whole closed-loop cycles too: 10 s of 0.63 s cycles are 15 or 16 of them (±6 %),
   so it runs 30 s (±2 %); ``c / mean latency`` (Little's law) is its unquantized figure.
2. ``bin/djbench run`` on a scenario holding only that variant, workload and closed step, with
   the default profile's warm-up and measured phase: the harness as users run it. Its
   ``results.json`` gives the step's ``rps``.

It prints wrk's req/s (and Little's law from wrk's mean latency, c / latency), djbench's, their
ratio, and exits 1 when a ratio is outside 5 %.

Usage: .venv/bin/python benchmarks/wrk_crosscheck.py [--out DIR] [--wrk-seconds 30]
           [--upstream-variant uvicorn] [--cpu-variant gunicorn-gthread]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import yaml
from rich.console import Console
from rich.table import Table

from djbench.backends.local.processes import free_port
from djbench.model.scenario import Scenario
from djbench.model.scenario_file import load_profile
from djbench.model.variants import resolve_variants

ROOT = Path(__file__).resolve().parents[1]
DJBENCH = ROOT / "bin" / "djbench"
HOST = "127.0.0.1"
TOLERANCE = 0.05
SERVE_SEED_ROWS = 10_000
"""What `djbench serve` seeds by default (neither workload here reads the table)."""
# wrk's machine output: one JSON line from its `done` hook (no regex over its report).
WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "mean_latency_us": %.3f, "errors": %d, "status": %d}\\n',
    summary.requests, summary.duration, latency.mean,
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""

console = Console(width=120)


@dataclass(frozen=True)
class Case:
    """One comparison: a workload at one concurrency on one variant."""

    workload: str
    concurrency: int
    variant: str


@dataclass(frozen=True)
class Row:
    """What both generators measured for one case."""

    case: Case
    wrk_rps: float
    wrk_little_rps: float
    wrk_errors: int
    djbench_rps: float
    djbench_errors: int

    @property
    def ratio(self) -> float:
        """djbench over wrk."""
        return self.djbench_rps / self.wrk_rps if self.wrk_rps else 0.0

    @property
    def agrees(self) -> bool:
        """Within the tolerance, both ways."""
        return abs(self.ratio - 1) <= TOLERANCE


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@contextlib.contextmanager
def served(variant: str, port: int, log: Path) -> Iterator[str]:
    """``bin/djbench serve VARIANT`` until the block ends; then SIGTERM and no orphans."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(DJBENCH), "serve", variant, "--port", str(port)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://{HOST}:{port}"
    members: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"djbench serve exited ({proc.returncode}): see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"djbench serve did not answer within 180 s: see {log}")
            time.sleep(0.5)
        members = _tree(proc.pid)
        yield url
    finally:
        members = members or _tree(proc.pid)
        proc.send_signal(signal.SIGTERM)  # serve turns it into its Ctrl-C path: clean stop
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session, started above
            proc.wait(10)
        _, alive = psutil.wait_procs(members, timeout=10)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()
        if alive:
            raise SystemExit(f"djbench serve left {len(alive)} processes running (killed)")


def wait_quiet(timeout_s: float = 60.0, busy: float = 15.0) -> None:
    """Wait until both CPUs are idle (under ``busy`` %) for 2 s: another job on this machine
    (someone's test run) would take the server's CPU from one generator and not the other."""
    deadline = time.monotonic() + timeout_s
    quiet = 0
    while time.monotonic() < deadline:
        quiet = quiet + 1 if max(psutil.cpu_percent(interval=1, percpu=True)) < busy else 0
        if quiet >= 2:
            return
    console.print(f"[yellow]warning: busy for {timeout_s:.0f} s (another job?); measuring anyway")


def run_wrk(url: str, concurrency: int, seconds: int, work: Path) -> dict[str, float]:
    """wrk on CPU 0 (the server has the last one): its JSON line."""
    script = work / "done.lua"
    script.write_text(WRK_DONE)
    argv = ["taskset", "-c", "0", "wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s",
            "--timeout", "5s", "-s", str(script), url]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    (work / "wrk.txt").write_text(done.stdout + done.stderr)
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    doc: dict[str, float] = json.loads(line)
    return doc


def run_djbench(case: Case, base: Scenario, work: Path) -> dict[str, object]:
    """``bin/djbench run`` on a one-step scenario; the step from its results.json."""
    scenario = {
        "name": "wrk-crosscheck",
        "variants": [case.variant],
        "workloads": [case.workload],
        "seed_rows": SERVE_SEED_ROWS,
        "warmup_s": base.warmup_s,
        "duration_s": base.duration_s,
        "request_timeout_s": base.request_timeout_s,
        "closed": {"concurrency": [case.concurrency]},
        # The same pool as `serve` gives the served variant (the default ladder's peak).
        "upstream_connections": Scenario().upstream_pool_size,
    }
    path = work / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    out = work / "run"
    argv = [str(DJBENCH), "run", "--scenario", str(path), "--out", str(out),
            "--port", str(free_port(HOST))]  # fmt: skip
    with (work / "run.log").open("wb") as log:
        status = subprocess.run(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=False)
    # results.json is written after each step: a failure after it (rendering) spares the step.
    try:
        results = json.loads((out / "results.json").read_text())
        step: dict[str, object] = results["runs"][0]["steps"][0]
    except (OSError, ValueError, LookupError) as exc:
        failed = f"djbench run failed ({status.returncode}): see {work / 'run.log'}"
        raise SystemExit(failed) from exc
    if status.returncode != 0:
        console.print(f"[yellow]djbench run exited {status.returncode} after measuring: see "
                      f"{work / 'run.log'}")  # fmt: skip
    return step


def measure(case: Case, base: Scenario, seconds: int, out: Path) -> Row:
    """wrk on the served variant, then djbench's own step: one after the other."""
    work = out / f"{case.workload}-c{case.concurrency}-{case.variant}"
    work.mkdir(parents=True, exist_ok=True)
    views = resolve_variants([case.variant])[0].views
    request = base.request(case.workload)
    assert request["method"] == "GET", "wrk here sends GETs only"
    query = "&".join(f"{k}={v}" for k, v in sorted(request["query"].items()))
    path = request["path"].format(views=views) + (f"?{query}" if query else "")
    with served(case.variant, free_port(HOST), work / "serve.log") as url:
        wait_quiet()
        console.print(f"wrk: {case.variant} {path} at c={case.concurrency}, {seconds} s")
        wrk = run_wrk(url + path, case.concurrency, seconds, work)
    wait_quiet()
    console.print(f"djbench run: {case.variant} {case.workload} at c={case.concurrency}")
    step = run_djbench(case, base, work)
    wrk_rps = wrk["requests"] / (wrk["duration_us"] / 1e6)
    little = case.concurrency / (wrk["mean_latency_us"] / 1e6) if wrk["mean_latency_us"] else 0.0
    return Row(
        case=case,
        wrk_rps=wrk_rps,
        wrk_little_rps=little,
        wrk_errors=int(wrk["errors"] + wrk["status"]),
        djbench_rps=float(step["rps"]),  # type: ignore[arg-type]
        djbench_errors=int(step["errors"]),  # type: ignore[call-overload]
    )


def main() -> None:
    """Measure every case, print the table, exit 1 on a disagreement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--wrk-seconds", type=int, default=30)
    parser.add_argument("--upstream-variant", default="uvicorn")
    parser.add_argument("--cpu-variant", default="gunicorn-gthread")
    args = parser.parse_args()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out: Path = args.out or ROOT / "results" / f"wrk-crosscheck-{stamp}"
    base = load_profile("default")
    cases = [Case("upstream", 32, args.upstream_variant), Case("cpu", 8, args.cpu_variant)]
    rows = [measure(case, base, args.wrk_seconds, out) for case in cases]

    table = Table(
        title=f"wrk ({args.wrk_seconds} s) vs djbench (default profile: "
        f"{base.warmup_s:g} s warm-up, {base.duration_s:g} s measured)"
    )
    for col in ("workload", "variant", "c", "wrk req/s", "wrk c/latency", "djbench req/s",
                "ratio", "within 5 %?"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("workload", "variant") else "right")
    for r in rows:
        table.add_row(
            r.case.workload, r.case.variant, str(r.case.concurrency), f"{r.wrk_rps:.1f}",
            f"{r.wrk_little_rps:.1f}", f"{r.djbench_rps:.1f}", f"{r.ratio:.3f}",
            "yes" if r.agrees else "NO",
        )  # fmt: skip
    console.print(table)
    errors = [r for r in rows if r.wrk_errors or r.djbench_errors]
    for r in errors:
        console.print(f"errors: {r.case.workload}: wrk {r.wrk_errors}, djbench {r.djbench_errors}")
    console.print(f"raw results: {out}")
    sys.exit(0 if all(r.agrees for r in rows) else 1)


if __name__ == "__main__":
    main()
