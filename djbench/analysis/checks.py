"""Self-checks (pyperf style): what makes a measured number less trustworthy, per step and
per candidate's repeats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from djbench.analysis.statistics import (
    stability_warnings,
)
from djbench.analysis.verdicts import Verdict
from djbench.model.names import run_label
from djbench.model.results import Step
from djbench.model.scenario import Scenario
from djbench.plan import physics
from djbench.plan.judge import RunSummary

MIN_REQUESTS = 100
"""Below this a p99 rests on a single sample or none: too noisy to trust."""


LOAD_CPU_LIMIT = 0.8
"""Share of the load CPUs (k6, plus Postgres and the stub API that share them locally) at
which the load side itself may be the bottleneck."""


CPU_SOURCES_AGREE = 0.1
"""cAdvisor's CPU seconds may differ this much (a share of the cgroup's) before a step's CPU
figures are in doubt: its samples are the kubelet's, seconds apart, extrapolated to the edges."""


CPU_SOURCES_SLACK_S = 0.05
"""…plus this many CPU seconds, so an idle step's few milliseconds never warn."""


OUTSIDE_LIMIT = 0.05
"""CPU something other than the server may use on the server's CPUs (a share of one CPU over
the step) before the step says it shared them: about the scheduler's and the harness's own
noise on an idle machine, well below what a compiler or a test run takes."""


INFRA_BUSY = 0.5
"""Postgres + stub API above this share of the load CPUs while the server idles below it:
the step measures the database, not the server."""


WarningKind = Literal[
    "failed-run",
    "failed-step",
    "error-rate",
    "few-requests",
    "few-cycles",
    "load-saturation",
    "proxy-saturation",
    "infra-bound",
    "db-refused",
    "outside-load",
    "physics",
    "cpu-sources",
    "repeats",
]


@dataclass(frozen=True)
class CheckWarning:
    """A self-check that makes a number less trustworthy (pyperf style)."""

    kind: WarningKind
    workload: str
    variant: str
    load: str | None
    """The step's load label, or None for the whole run."""
    message: str

    def __str__(self) -> str:
        where = f"{self.workload} / {self.variant}" + (f" @ {self.load}" if self.load else "")
        return f"{where}: {self.message}"


def outside_share(step: Step) -> float | None:
    """The share of a CPU that something other than the server used on the server's CPUs in
    a step (None where not read, or the step lasted nothing)."""
    if step.outside_cpu_s is None or step.duration_s <= 0:
        return None
    return step.outside_cpu_s / step.duration_s


def _proxy_cpu_s(step: Step) -> float:
    """CPU seconds the step's latency proxies spent (0 without proxies)."""
    return sum(p.cpu_s for p in (step.db_path, step.upstream_path) if p is not None)


def _load_busy(step: Step, load_cpus: int) -> float | None:
    """Share of the load CPUs in use: k6 shares them with Postgres, the stub API and the
    latency proxies (local backend), so all count. None when the load side's CPU was not
    recorded."""
    if step.load_cpu_s is None or step.duration_s <= 0:
        return None
    used = step.load_cpu_s + (step.infra_cpu_s or 0.0) + _proxy_cpu_s(step)
    return used / step.duration_s / max(load_cpus, 1)


def run_warnings(summary: RunSummary, load_cpus: int, scenario: Scenario) -> list[CheckWarning]:
    """The self-checks of one run's steps (``load_cpus``: the CPUs k6 shares with Postgres,
    the stub API and the proxies)."""
    run = summary.run
    found = []

    def warn(kind: WarningKind, load: str | None, message: str) -> None:
        found.append(CheckWarning(kind, run.workload, run_label(run), load, message))

    if run.status == "failed":
        warn("failed-run", None, f"run failed: {run.error or 'no error recorded'}")
    for step in run.steps:
        load = step.load_label
        if step.db_refused:
            warn(
                "db-refused",
                load,
                f"Postgres refused {step.db_refused:,} connection(s) for want of a free one "
                "(its max_connections reached): the server opened more than the database "
                "allows (a connection per thread, greenlet or request)",
            )
        if step.status == "failed":
            warn("failed-step", load, f"step failed: {step.error or 'no error recorded'}")
        if not step.measured:
            continue  # failed or saturated: its numbers are no measurement to doubt
        outside = outside_share(step)
        if outside is not None and outside > OUTSIDE_LIMIT:
            warn(
                "outside-load",
                load,
                f"something other than the server used {outside:.0%} of a CPU on the "
                "server's CPU during the step (another program, or the machine's host): "
                "the server had less than its budget",
            )
        busy = _load_busy(step, load_cpus)
        shortfall = physics.shortfall(run, step, scenario, busy, LOAD_CPU_LIMIT)
        if shortfall:
            warn("physics", load, shortfall)
        if step.error_rate > summary.slo.max_error_rate:
            warn(
                "error-rate",
                load,
                f"error rate {step.error_rate:.1%} above the SLO's "
                f"{summary.slo.max_error_rate:.1%}",
            )
        if step.cadvisor_cpu_s is not None:
            gap = step.cadvisor_cpu_s - step.cpu_s
            if abs(gap) > CPU_SOURCES_AGREE * step.cpu_s + CPU_SOURCES_SLACK_S:
                warn(
                    "cpu-sources",
                    load,
                    f"cAdvisor saw {step.cadvisor_cpu_s:.2f} CPU-s where the server's cgroup "
                    f"counted {step.cpu_s:.2f} ({gap / step.cpu_s:+.0%})"
                    if step.cpu_s
                    else f"cAdvisor saw {step.cadvisor_cpu_s:.2f} CPU-s where the cgroup counted 0",
                )
        cycle_s = step.latency_ms.p50 / 1000 + scenario.think_time_s(summary.run.workload)
        if (
            step.model == "closed"
            and cycle_s > 0
            and step.duration_s / cycle_s < scenario.min_cycles
        ):
            warn(
                "few-cycles",
                load,
                f"{step.duration_s:g} s measured {step.duration_s / cycle_s:.1f} request cycles "
                f"of {cycle_s * 1000:,.0f} ms (fewer than {scenario.min_cycles})",
            )
        if step.requests < MIN_REQUESTS:
            warn("few-requests", load, f"too few requests for a stable p99 ({step.requests})")
        if busy is not None and step.load_cpu_s is not None:
            infra = step.infra_cpu_s or 0.0
            infra_share = infra / step.duration_s / max(load_cpus, 1)
            if infra_share >= INFRA_BUSY and step.cpu_util < INFRA_BUSY and busy < LOAD_CPU_LIMIT:
                warn(
                    "infra-bound",
                    load,
                    f"Postgres and the stub API used {infra_share:.0%} of the load CPUs while "
                    f"the server used {step.cpu_util:.0%} of its own: the database is the limit",
                )
            if busy >= LOAD_CPU_LIMIT:
                proxies = _proxy_cpu_s(step)
                with_proxies = (
                    f", latency proxies {proxies / step.duration_s:.0%}" if proxies else ""
                )
                warn(
                    "load-saturation",
                    load,
                    f"load side near saturation ({busy:.0%} of its CPUs: k6 "
                    f"{step.load_cpu_s / step.duration_s:.0%}, Postgres and stub API "
                    f"{infra / step.duration_s:.0%}{with_proxies}): the server may not be the "
                    "bottleneck",
                )
        for target, traffic in (("Postgres", step.db_path), ("the stub API", step.upstream_path)):
            # One event loop: a proxy near one whole CPU delays by more than it was asked to.
            if traffic is not None and step.duration_s > 0:
                share = traffic.cpu_s / step.duration_s
                if share >= LOAD_CPU_LIMIT:
                    warn(
                        "proxy-saturation",
                        load,
                        f"the latency proxy to {target} used {share:.0%} of a CPU: its delays "
                        "may exceed the round trip asked for",
                    )
    return found


def repeat_warnings(verdict: Verdict) -> list[CheckWarning]:
    """pyperf-style doubts about the repeats of the candidates a verdict compares."""
    found = []
    for candidate in verdict.candidates[:2]:
        doubts = stability_warnings(candidate.samples) if candidate.samples else []
        if candidate.missed:
            doubts.append(f"{candidate.missed} round(s) met the SLO at no step")
        if candidate.lower_bounds:
            doubts.append(
                f"{candidate.lower_bounds} of {len(candidate.samples)} searches met the SLO at "
                "every rate they tried (their capacity is a lower bound)"
            )
        if candidate.collapsed:
            doubts.append(
                f"{candidate.collapsed} of {len(candidate.samples)} searches were served less "
                "at their failing rate than at the passing rate below it (overload collapse): "
                "their capacity is that passing rate, so the interval shows the rates tried, "
                "not the server's spread"
            )
        found += [
            CheckWarning("repeats", verdict.workload, candidate.label, None, doubt)
            for doubt in doubts
        ]
    return found
