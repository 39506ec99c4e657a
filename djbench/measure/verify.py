"""Verify before measuring (TechEmpower's verify mode): one request, its answer checked."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

from benchapp.catalog import WORKLOADS

if TYPE_CHECKING:
    from djbench.model.scenario import Scenario


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
    location: str | None = None,
) -> str | None:
    """None when the answer is right for the workload, else what was wrong, in one line: the
    request's status and text (a team's named request), then benchapp's own checks.
    ``location``: the answer's ``Location`` header, which a redirect is named by."""
    req = scenario.request(workload)
    if status != req["status"]:
        said = answer_excerpt(status, content_type, body, location)
        return f"verify: {where} answered {status} (expected {req['status']}){said}"
    if req["contains"] is not None and req["contains"] not in body:
        said = answer_excerpt(status, content_type, body, location)
        return f"verify: {where} answered without {req['contains']!r}{said}"
    if scenario.benchapp_workload(workload) is None:
        return None
    return check_answer(workload, where, status, content_type, body, client=client)


EXCERPT_CHARS = 200


def answer_excerpt(status: int, content_type: str, body: str, location: str | None) -> str:
    """What a wrong answer said, to follow its status on one line: a redirect's target
    (`` → https://…``, or `` with no Location``), else ``: `` and the first line of the body's
    text (an HTML page's, its tags left out), or what little it held."""
    if 300 <= status < 400:
        return f" → {location}" if location else " with no Location"
    line = first_text_line(body, content_type)
    if line:
        return f": {line}"
    return " with no text" if body.strip() else " with an empty body"


def first_text_line(body: str, content_type: str = "") -> str:
    """The first non-empty line of a body's text, at most ``EXCERPT_CHARS``: of an HTML
    page, the text a reader sees first (its title, else its first heading or paragraph)."""
    looks_html = "html" in content_type or body.lstrip()[:1] == "<"
    text = _TextOnly.of(body) if looks_html else body
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())[:EXCERPT_CHARS]
    return ""


class _TextOnly(HTMLParser):
    """An HTML page's text: every element's text on a line of its own, scripts and styles
    left out."""

    _HIDDEN = frozenset({"script", "style", "noscript", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._hidden = 0

    @classmethod
    def of(cls, body: str) -> str:
        parser = cls()
        parser.feed(body)
        parser.close()
        return "\n".join(parser.lines)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.lines.append(data.strip())


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
        said = answer_excerpt(status, content_type, body, None)
        return f"verify: {where} answered {status} (expected {want}){said}"
    if "json" in content_type:
        try:
            doc = json.loads(body)
        except json.JSONDecodeError:
            return f"verify: {where} answered invalid JSON: {first_text_line(body)}"
        if not isinstance(doc, dict) or doc.get("workload") != workload:
            return f"verify: {where} answered an unexpected body: {first_text_line(body)}"
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
