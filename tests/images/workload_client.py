"""Runs INSIDE a container on the test network: one request per workload to a server.

    python3 workload_client.py BASE_URL VIEWS [URL ...]

Prints one JSON line per workload: {"workload", "status", "content_type", "body"}, then one
per extra URL fetched with GET afterwards (e.g. what Prometheus would scrape): {"url", ...}.
The requests come from the app's own catalog (benchapp.catalog, shipped in the image); the
test checks the answers on the host with djbench.measure.verify.check_answer.
"""

from __future__ import annotations

import json
import sys

import httpx

from benchapp.catalog import WORKLOADS


def answer(resp: httpx.Response, **what: str) -> None:
    doc = {
        **what,
        "status": resp.status_code,
        "content_type": resp.headers.get("content-type", ""),
        "body": resp.text,
    }
    print(json.dumps(doc), flush=True)


def main() -> None:
    base, views, *urls = sys.argv[1:]
    with httpx.Client(timeout=30) as client:
        for name, w in WORKLOADS.items():
            url = base + w.path(views)
            answer(
                client.request(w.method, url, params=w.query or None, json=w.body), workload=name
            )
        for url in urls:
            answer(client.get(url), url=url)


if __name__ == "__main__":
    main()
