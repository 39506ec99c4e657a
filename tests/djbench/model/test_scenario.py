from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchapp.catalog import WORKLOADS
from djbench.model.errors import DjbenchError
from djbench.model.results import DIRECT, Distance, Step
from djbench.model.scenario_file import load_profile, load_scenario, parse_scenario
from djbench.plan.measurement import make_plan


@pytest.mark.parametrize("name", ["smoke", "default", "clients", "full", "kubernetes"])
def test_profiles_validate(name: str) -> None:
    scenario = load_profile(name)
    assert scenario.name == name
    assert set(scenario.workloads) <= set(WORKLOADS)


def test_smoke_covers_every_workload_and_default_the_three() -> None:
    assert set(load_profile("smoke").workloads) == set(WORKLOADS)
    default = load_profile("default")
    assert default.workloads == ["upstream", "db-read", "cpu"]
    assert default.closed.concurrency == [8, 32, 128]
    assert (default.repeats, default.leaders, default.search_steps) == (5, 2, 3)
    assert default.confirm_steps == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("closed: [1", "not valid YAML"),
        ("- a\n- b", "must be a mapping"),
        ("workloads: [cpux]", "unknown workload cpux"),
        ("closed: {concurrency: [0]}", "concurrency levels must be >= 1"),
        ("duration_s: 0.5", "duration_s"),
        ("warmup_s: 0.5\nopen: {rates: [5]}", "warmup_s"),
        ("bogus: 1", "bogus"),
        ("slo: {nope: {p99_ms: 1}}", "unknown workload nope"),
        ("repeats: 3", "repeats: confirmation rounds repeat the leaders' capacity search"),
        ("confirm_steps: 1\nsearch_steps: 3", "confirm_steps"),
        ("network: {db_rtt_ms: [-1]}", "db_rtt_ms: round-trip times must be within 0"),
        ("network: {upstream_rtt_ms: [20000]}", "upstream_rtt_ms: round-trip times must be"),
        ("network: {db_rtt_ms: [1, 1]}", "db_rtt_ms: a round-trip time is listed twice"),
        ("network: {db_rtt: [1]}", "db_rtt"),
        ("network: {db_rtt_ms: [0, 10], jitter_ms: 1}", "jitter_ms: at most half the shortest"),
    ],
)
def test_bad_scenarios_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(DjbenchError, match=message) as info:
        parse_scenario(text, "s.yaml")
    assert str(info.value).startswith("s.yaml:")
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DjbenchError, match="cannot read scenario file"):
        load_scenario(tmp_path / "none.yaml")


def test_resolved_scenario_carries_each_request() -> None:
    doc = load_profile("smoke").resolved()
    assert doc["requests"]["db-write"]["method"] == "POST"
    assert doc["requests"]["db-write"]["body"] == WORKLOADS["db-write"].body
    assert doc["requests"]["cpu"]["path"] == "/{views}/cpu"


def test_plan_overrides_and_open_steps() -> None:
    scenario = parse_scenario("open: {capacity_fractions: [0.5, 1.0], rates: [7]}", "s")
    plan = make_plan(scenario, ["uvicorn"], ["cpu", "cpu"])
    assert plan.workloads == ["cpu"]
    assert plan.scenario.variants == ["uvicorn"]
    assert plan.steps_per_run == len(scenario.closed.concurrency) + 3
    closed = [_step(100.0), _step(80.0)]
    assert [s.level for s in plan.open_steps(closed)] == [50.0, 100.0, 7.0]
    with pytest.raises(DjbenchError, match="unknown workload nope"):
        make_plan(scenario, None, ["nope"])


def _step(rps: float) -> Step:
    zero = {"p50": 0, "p90": 0, "p95": 0, "p99": 0, "max": 0}
    return Step.model_validate(
        {
            "model": "closed",
            "concurrency": 1,
            "rate": None,
            "duration_s": 1,
            "requests": 1,
            "errors": 0,
            "dropped": 0,
            "rps": rps,
            "latency_ms": zero,
            "cpu_s": 0,
            "cpu_util": 0,
            "cpu_ms_per_req": 0,
            "rss_mib": 0,
        }
    )


def test_upstream_clients_default_to_one_per_kind_and_size_their_pool() -> None:
    scenario = load_profile("default")
    assert scenario.upstream_clients.of("sync") == ["requests"]
    assert scenario.upstream_clients.of("async") == ["aiohttp"]
    # The capacity search's open steps can hold up to max_vus requests in flight, each making
    # 3 calls at once.
    assert scenario.upstream_pool_size == 4096 * 3
    assert load_profile("smoke").upstream_pool_size == 8 * 3
    stored = scenario.resolved()["upstream_clients"]
    assert stored == {"sync": ["requests"], "async": ["aiohttp"]}
    assert parse_scenario("upstream_connections: 50", "x").upstream_pool_size == 50


def test_the_clients_profile_runs_every_client() -> None:
    clients = load_profile("clients").upstream_clients
    assert clients.of("sync") == ["requests", "httpx2", "httpx"]
    assert clients.of("async") == ["aiohttp", "httpx2", "httpx"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "upstream_clients: {async: [requests]}",
            "x: upstream_clients.async: unknown async client requests; "
            "choose from: aiohttp, httpx2, httpx",
        ),
        (
            "upstream_clients: {sync: [aiohttp]}",
            "x: upstream_clients.sync: unknown sync client aiohttp; "
            "choose from: requests, httpx2, httpx",
        ),
        ("upstream_clients: {sync: [httpx, httpx]}", "sync clients must not repeat"),
        ("upstream_clients: {sync: []}", "upstream_clients.sync: List should have at least 1"),
        (
            "upstream_clients: {threads: [httpx]}",
            "upstream_clients.threads: unknown key; allowed here: sync, async",
        ),
        ("upstream_connections: 0", "upstream_connections: Input should be greater than"),
    ],
)
def test_bad_upstream_clients_are_refused(text: str, message: str) -> None:
    with pytest.raises(DjbenchError, match=re.escape(message)):
        parse_scenario(text, "x")


def test_upstream_clients_survive_revalidation() -> None:
    scenario = parse_scenario("upstream_clients: {async: [httpx2, aiohttp]}", "x")
    plan = make_plan(scenario, ["uvicorn"], ["upstream"])
    assert plan.scenario.upstream_clients.of("async") == ["httpx2", "aiohttp"]


def test_network_distances_are_every_combination_nearest_first() -> None:
    assert parse_scenario("", "s").network.distances() == [DIRECT]
    network = parse_scenario("network: {db_rtt_ms: [100, 0], upstream_rtt_ms: [50]}", "s").network
    assert network.distances() == [
        Distance(db_rtt_ms=0, upstream_rtt_ms=50),
        Distance(db_rtt_ms=100, upstream_rtt_ms=50),
    ]
    only_db = parse_scenario("network: {db_rtt_ms: [0, 10]}", "s").network.distances()
    assert [d.label for d in only_db] == ["db +0 ms", "db +10 ms"]


def test_a_pool_never_holds_more_connections_than_its_server_holds_requests() -> None:
    pool = parse_scenario("db_pool: {min_size: 64, max_size: 64}", "x").db_pool
    assert (pool.for_slots(1).min_size, pool.for_slots(1).max_size) == (1, 1)
    assert pool.for_slots(32).max_size == 32
    assert pool.for_slots(None) is pool  # greenlets, an event loop: no bound
    assert pool.for_slots(128) is pool


def test_a_request_s_path_and_query_read_as_k6_sends_them(tmp_path: Path) -> None:
    """`serve` and the reports print what k6's script sends (k6/lib/config.js, queryString):
    the same keys in the same order, encoded alike, by the real k6."""
    import json
    import subprocess

    from djbench.measure.k6 import SCRIPT, find_k6
    from djbench.model.requests import path_with_query

    query = {"page": "7", "q": "a b&c/é", "order": "-stars", "x": "(!*'~)"}
    script = tmp_path / "query.js"
    script.write_text(
        f"import {{ queryString }} from '{SCRIPT.parent / 'lib' / 'config.js'}';\n"
        "export default function () {\n"
        f"  console.log('/books/' + queryString({json.dumps(query)}));\n"
        "}\n"
    )
    done = subprocess.run(
        [str(find_k6()), "run", "--quiet", "--no-usage-report", "--log-output=stdout",
         "--log-format=raw", "--iterations", "1", str(script)],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sent = [line for line in done.stdout.splitlines() if line.startswith("/books/")]
    assert sent == [path_with_query("/books/", query)]
    assert path_with_query("/", {}) == "/"
