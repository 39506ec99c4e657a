"""The k6 step contract, written once: the script's environment and the tags of its metrics.

``k6/lib/config.js`` reads these variables and sets these tags; ``djbench.measure.k6`` (local
runs) and ``charts/loadtest`` (Kubernetes Jobs, installed by ``djbench.backends.kubernetes``)
set the variables; the dashboards select k6's series on the tags. ``k6/lib/credit.js`` names
the metric of credited completions (``COMPLETED_METRIC``). ``k6/lib/summary.js`` asks
k6 for the percentiles of ``QUANTILE_GRID``, which ``djbench.measure.k6`` reads back (and merges
across the pods of a step). Every copy is tested against this module
(``tests/djbench/load/test_contract.py``): a drift fails a test instead of leaving a dashboard
without samples or a summary without its percentiles.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Side = Literal["both", "local", "kubernetes"]
"""Who sets a variable: every run, local runs only, or the Kubernetes Job only."""


@dataclass(frozen=True)
class EnvVar:
    """One environment variable the k6 script reads."""

    name: str
    meaning: str
    side: Side
    required: bool = False
    """The script stops without it (``required()`` in config.js)."""
    chart_value: str | None = None
    """The loadtest chart's value that sets it, when the harness passes it through."""


SCENARIO = "DJBENCH_SCENARIO"
TARGET = "DJBENCH_TARGET"
VIEWS = "DJBENCH_VIEWS"
WORKLOAD = "DJBENCH_WORKLOAD"
MODEL = "DJBENCH_MODEL"
LEVEL = "DJBENCH_LEVEL"
RUN = "DJBENCH_RUN"
VARIANT = "DJBENCH_VARIANT"
CLIENT = "DJBENCH_CLIENT"
WARMUP = "DJBENCH_WARMUP_S"
DURATION = "DJBENCH_DURATION_S"
MAX_VUS = "DJBENCH_MAX_VUS"
PRE_VUS = "DJBENCH_PRE_VUS"
SUMMARY = "DJBENCH_SUMMARY"
PARALLELISM = "DJBENCH_PARALLELISM"
JOB_COMPLETION_INDEX = "JOB_COMPLETION_INDEX"

ENV: tuple[EnvVar, ...] = (
    # The chart mounts the scenario (its value `scenario` is the JSON) at a fixed path.
    EnvVar(SCENARIO, "path of the resolved scenario JSON", "both", required=True),
    EnvVar(TARGET, "base URL of the variant", "both", required=True, chart_value="target"),
    EnvVar(VIEWS, "the variant's view flavor", "both", required=True, chart_value="views"),
    EnvVar(WORKLOAD, "workload of the step", "both", required=True, chart_value="workload"),
    EnvVar(MODEL, "load model: closed or open", "both", required=True, chart_value="model"),
    EnvVar(LEVEL, "VUs (closed) or req/s (open)", "both", required=True, chart_value="level"),
    EnvVar(RUN, "run id (tag `run`)", "both", chart_value="run"),
    EnvVar(VARIANT, "variant name (tag `variant`)", "both", chart_value="variant"),
    EnvVar(CLIENT, "the variant's upstream client (tag `client`)", "both", chart_value="client"),
    EnvVar(WARMUP, "this step's warm-up in seconds", "both", required=True, chart_value="warmupS"),
    EnvVar(DURATION, "this step's measured phase", "both", required=True, chart_value="durationS"),
    EnvVar(
        MAX_VUS,
        "most VUs an open step may hold in flight",
        "both",
        required=True,
        chart_value="maxVUs",
    ),
    EnvVar(
        PRE_VUS,
        "VUs an open step allocates before it starts",
        "both",
        required=True,
        chart_value="preVUs",
    ),
    EnvVar(SUMMARY, "file the JSON summary is also written to", "local"),
    EnvVar(PARALLELISM, "pods the step is split across", "kubernetes", chart_value="parallelism"),
    EnvVar(JOB_COMPLETION_INDEX, "this pod's index: its execution segment", "kubernetes"),
)
ENV_BY_NAME: Mapping[str, EnvVar] = {var.name: var for var in ENV}

TAGS: tuple[str, ...] = ("run", "variant", "client", "workload", "step")
"""Test-wide tags the script puts on every metric (``options.tags``)."""
PHASE_TAG = "phase"
"""Request tag: ``warmup`` or ``measure``."""
MEASURE_PHASE = "measure"

PART_TAG = "name"
"""Request tag: the part of a traffic mix the request belongs to (``k6/lib/mix.js``); for a
workload that is not a mix, the workload itself."""


def part_selector(part: str) -> str:
    """The submetric selector of one part's measured requests: ``{phase:measure,name:cpu}``
    (``partSelector`` in ``k6/lib/mix.js``)."""
    return f"{{{PHASE_TAG}:{MEASURE_PHASE},{PART_TAG}:{part}}}"


COMPLETED_METRIC = "djbench_completed"
"""Counter of successful responses credited to the measured window (``k6/lib/credit.js``): each
adds the share of its own duration inside the window, so its count over the window is the
throughput without closed-loop phase quantization. The whole metric, not its ``phase:measure``
submetric: a response started in the warm-up and finished in the window counts its share."""


QUANTILE_STEPS: tuple[tuple[int, int, int], ...] = ((0, 90, 2), (90, 99, 10), (99, 100, 100))
"""``(from, to, per_percent)``: the grid's percent points from ``from`` up to below ``to``,
``per_percent`` of them per percent; 100 closes the grid. Finer towards the tail, where the
quantile function bends (up to p99.9 each step is at most a tenth of the tail beyond it).
Points are ``i / per_percent`` for whole ``i``: the same doubles in Python and JavaScript."""


def _quantile_grid() -> tuple[float, ...]:
    points = [
        i / per_percent
        for start, stop, per_percent in QUANTILE_STEPS
        for i in range(start * per_percent, stop * per_percent)
    ]
    return (*points, 100.0)


QUANTILE_GRID: tuple[float, ...] = _quantile_grid()
"""Percent points at which every pod's summary gives the measured latency's exact percentile:
the pod's quantile function, so pods of one step merge (``djbench.measure.quantiles``)."""


def quantile_stat(percent: float) -> str:
    """k6's name of a percentile, in ``summaryTrendStats`` and the summary: ``p(99.9)``."""
    return f"p({format_level(percent)})"


def names(*sides: Side) -> frozenset[str]:
    """Names of the variables set on these sides."""
    return frozenset(var.name for var in ENV if var.side in sides)


def format_level(level: float) -> str:
    """The level as JavaScript's ``String(number)`` writes it (ECMAScript Number::toString).

    Shortest round-trip digits, like Python's ``repr``; plain notation from 1e-6 up to below
    1e21, exponent notation (``1e-7``, ``1.5e+21``) outside. Python's ``f"{x:g}"`` differs: six
    significant digits (1234567 -> ``1.23457e+06``).
    """
    value = float(level)
    if not math.isfinite(value):
        raise ValueError(f"level {level!r} is not a finite number")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # Shortest round-trip digits without trailing zeros: value = 0.<digits> * 10**n.
    parts = decimal.Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, parts.digits))
    assert isinstance(parts.exponent, int)
    k = len(digits)
    n = parts.exponent + k
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = f"0.{'0' * -n}{digits}"
    else:
        e = n - 1
        mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + text


def step_tag(model: str, level: float) -> str:
    """The ``step`` tag: config.js's `${model}-${level}`, level being a JS number."""
    return f"{model}-{format_level(level)}"


def step_tags(
    *, run: str, variant: str, client: str, workload: str, model: str, level: float
) -> dict[str, str]:
    """The tags (``TAGS``) k6 puts on every metric of one step."""
    return {
        "run": run,
        "variant": variant,
        "client": client,
        "workload": workload,
        "step": step_tag(model, level),
    }


def step_env(
    *,
    scenario: str,
    target: str,
    views: str,
    workload: str,
    model: str,
    level: float,
    run: str,
    variant: str,
    client: str,
    warmup_s: float,
    duration_s: float,
    max_vus: int,
    pre_vus: int,
) -> dict[str, str]:
    """The variables every run sets (side ``both``), by name.

    ``max_vus``: the step's VU ceiling (``LoadStep.vus``), for all pods of a step together;
    ``pre_vus``: the VUs it allocates before it starts (``LoadStep.pre_vus``; k6 uses at most
    ``max_vus`` of them). Closed steps ignore both.
    """
    for name, vus in (("max_vus", max_vus), ("pre_vus", pre_vus)):
        if isinstance(vus, bool) or not isinstance(vus, int) or vus < 1:
            raise ValueError(f"{name} must be a whole number >= 1, not {vus!r}")
    return {
        WARMUP: format_level(warmup_s),
        DURATION: format_level(duration_s),
        MAX_VUS: str(max_vus),
        PRE_VUS: str(pre_vus),
        SCENARIO: scenario,
        TARGET: target,
        VIEWS: views,
        WORKLOAD: workload,
        MODEL: model,
        LEVEL: format_level(level),
        RUN: run,
        VARIANT: variant,
        CLIENT: client,
    }


NUMBERS = frozenset({LEVEL, WARMUP, DURATION, MAX_VUS, PRE_VUS})
"""Variables the chart takes as numbers (``--set-json``: ``--set`` would make 12.5 a string)."""


def chart_set_args(env: Mapping[str, str]) -> list[str]:
    """``helm`` arguments giving the loadtest chart the chart-backed variables of ``env``.

    Strings with ``--set-string``; the numbers (``NUMBERS``) with ``--set-json`` (``--set``
    would make 12.5 a string).
    """
    args: list[str] = []
    for name, text in env.items():
        value = ENV_BY_NAME[name].chart_value
        if value is not None:
            args += ["--set-json" if name in NUMBERS else "--set-string", f"{value}={text}"]
    return args
