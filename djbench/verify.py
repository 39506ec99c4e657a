"""Verify before measuring (TechEmpower's verify mode): one request, its answer checked."""

from __future__ import annotations

import json

from benchapp.catalog import WORKLOADS


def expected_status(workload: str) -> int:
    """The status a correct answer has: 201 for the POST workload, 200 otherwise."""
    return 201 if WORKLOADS[workload].method == "POST" else 200


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
