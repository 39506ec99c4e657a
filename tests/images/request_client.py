"""Send a project's named requests to a server; one JSON line per answer. Runs inside a
container of the project's image (standard library only): argv[1] is the base URL, argv[2]
the requests as JSON (``Scenario.resolved()["requests"]``)."""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request

base, requests = sys.argv[1], json.loads(sys.argv[2])
for name, req in requests.items():
    query = urllib.parse.urlencode(req["query"])
    url = f"{base}{req['path']}" + (f"?{query}" if query else "")
    body = req["body"]
    headers = dict(req["headers"])
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    data = body.encode() if body is not None else None
    # http:// to a test container, built just above: no other scheme reaches here.
    request = urllib.request.Request(url, data=data, method=req["method"], headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as res:  # noqa: S310
            status, kind, text = res.status, res.headers.get("Content-Type", ""), res.read()
    except urllib.error.HTTPError as err:
        status, kind, text = err.code, err.headers.get("Content-Type", ""), err.read()
    answer = {"workload": name, "status": status, "content_type": kind, "body": text.decode()}
    print(json.dumps(answer), flush=True)
