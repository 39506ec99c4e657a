"""The plan: setups (a variant with one upstream client each) and the workloads each serves."""

from __future__ import annotations

from djbench.plan import make_plan
from djbench.scenario import parse_scenario

CLIENTS = "upstream_clients: {sync: [requests, httpx], async: [aiohttp, httpx2, httpx]}\n"


def test_every_client_of_a_variants_kind_is_a_setup_of_its_own() -> None:
    scenario = parse_scenario(CLIENTS + "closed: {concurrency: [1, 8]}", "x")
    plan = make_plan(scenario, ["gunicorn-gthread", "uvicorn"], ["cpu", "upstream", "page"])
    setups = [(s.variant.name, s.client) for s in plan.setups]
    assert setups == [
        ("gunicorn-gthread", "requests"),
        ("gunicorn-gthread", "httpx"),
        ("uvicorn", "aiohttp"),
        ("uvicorn", "httpx2"),
        ("uvicorn", "httpx"),
    ]
    # The first client serves every workload; the others only those that call upstream.
    assert plan.workloads_for(plan.setups[0]) == ["cpu", "upstream", "page"]
    assert plan.workloads_for(plan.setups[1]) == ["upstream", "page"]
    assert plan.workloads_for(plan.setups[4]) == ["upstream", "page"]
    # 2 variants x 3 workloads + 3 more client runs x 2 workloads, 2 steps each.
    assert plan.total_steps == (2 * 3 + 3 * 2) * 2


def test_without_upstream_workloads_each_variant_starts_once() -> None:
    plan = make_plan(parse_scenario(CLIENTS, "x"), ["uvicorn", "uwsgi"], ["cpu", "db-read"])
    assert [(s.variant.name, s.client) for s in plan.setups] == [
        ("uvicorn", "aiohttp"),
        ("uwsgi", "requests"),
    ]
