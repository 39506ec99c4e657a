"""Verify before measuring (TechEmpower's verify mode): one request, its answer checked."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from benchapp.catalog import WORKLOADS

if TYPE_CHECKING:
    from djbench.scenario import Scenario


def expected_status(workload: str) -> int:
    """The status a correct answer has: 201 for the POST workload, 200 otherwise."""
    return 201 if WORKLOADS[workload].method == "POST" else 200


def verify_answer(
    scenario: Scenario,
    workload: str,
    where: str,
    status: int,
    content_type: str,
    body: str,
    *,
    client: str | None = None,
) -> str | None:
    """None when the answer is right for the workload, else what was wrong, in one line: the
    request's status and text (a team's named request), then benchapp's own checks."""
    req = scenario.request(workload)
    if status != req["status"]:
        return f"verify: {where} answered {status} (expected {req['status']}): {body[:200]}"
    if req["contains"] is not None and req["contains"] not in body:
        return f"verify: {where} answered without {req['contains']!r}: {body[:200]}"
    if scenario.benchapp_workload(workload) is None:
        return None
    return check_answer(workload, where, status, content_type, body, client=client)


def encoded_body(request: dict[str, Any]) -> tuple[str | None, dict[str, str]]:
    """The body a request sends and its headers: JSON with its content type, a string as it
    is (its ``Content-Type`` among the request's headers); k6/bench.js sends the same."""
    body = request["body"]
    headers = dict(request["headers"])
    if body is None or isinstance(body, str):
        return body, headers
    return json.dumps(body), {"Content-Type": "application/json", **headers}


def check_answer(
    workload: str,
    where: str,
    status: int,
    content_type: str,
    body: str,
    *,
    client: str | None = None,
) -> str | None:
    """None when the answer is right for the workload, else what was wrong, in one line.

    ``client``: the upstream client the server was started with, which the answer of a
    workload that calls upstream must name (so a run never measures another client): the JSON
    answer's ``client``, or the HTML page's ``client_mark``.
    """
    want = expected_status(workload)
    if status != want:
        return f"verify: {where} answered {status} (expected {want}): {body[:200]}"
    if "json" in content_type:
        try:
            doc = json.loads(body)
        except json.JSONDecodeError:
            return f"verify: {where} answered invalid JSON: {body[:200]}"
        if not isinstance(doc, dict) or doc.get("workload") != workload:
            return f"verify: {where} answered an unexpected body: {body[:200]}"
        used = doc.get("client")
        if client and WORKLOADS[workload].touches_upstream and used != client:
            return f"verify: {where} called upstream with {used!r}, not {client!r}"
    elif "html" not in content_type:
        return f"verify: {where} answered an unexpected content type {content_type!r}"
    elif client and WORKLOADS[workload].touches_upstream and client_mark(client) not in body:
        return f"verify: {where} does not say it called upstream with {client!r}"
    return None


def client_mark(client: str) -> str:
    """How an HTML answer (the page template) names the upstream client it called with."""
    return f'data-upstream-client="{client}"'
