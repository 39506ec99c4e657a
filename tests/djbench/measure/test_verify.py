from __future__ import annotations

import json

from djbench.measure.verify import check_answer, expected_status


def test_expected_status() -> None:
    assert expected_status("db-write") == 201
    assert expected_status("cpu") == 200


def test_right_answers_pass() -> None:
    body = json.dumps({"workload": "cpu", "n": 1, "result": 1})
    assert check_answer("cpu", "GET /sync/cpu", 200, "application/json", body) is None
    assert check_answer("page", "GET /sync/page", 200, "text/html; charset=utf-8", "<p>") is None


def test_wrong_answers_say_why() -> None:
    other = json.dumps({"workload": "sleep"})
    assert "answered 500" in (check_answer("cpu", "x", 500, "application/json", "{}") or "")
    assert "expected 201" in (check_answer("db-write", "x", 200, "application/json", "{}") or "")
    assert "unexpected body" in (check_answer("cpu", "x", 200, "application/json", other) or "")
    assert "invalid JSON" in (check_answer("cpu", "x", 200, "application/json", "{") or "")
    assert "content type" in (check_answer("cpu", "x", 200, "text/plain", "hi") or "")


def test_an_upstream_answer_must_name_the_client_the_server_was_started_with() -> None:
    body = json.dumps({"workload": "upstream", "client": "aiohttp", "calls": []})
    where = "GET /async/upstream"
    assert check_answer("upstream", where, 200, "application/json", body, client="aiohttp") is None
    wrong = check_answer("upstream", where, 200, "application/json", body, client="httpx")
    assert wrong == "verify: GET /async/upstream called upstream with 'aiohttp', not 'httpx'"
    # Workloads without upstream calls carry no client.
    cpu = json.dumps({"workload": "cpu", "n": 1, "result": 1})
    assert check_answer("cpu", "x", 200, "application/json", cpu, client="httpx") is None


def test_the_page_must_name_its_client_too() -> None:
    page = '<p data-upstream-client="requests">Upstream (300 ms, requests): #1 record-1</p>'
    where = "GET /sync/page"
    assert check_answer("page", where, 200, "text/html", page, client="requests") is None
    wrong = check_answer("page", where, 200, "text/html", page, client="httpx")
    assert wrong == "verify: GET /sync/page does not say it called upstream with 'httpx'"


def test_a_named_request_is_checked_by_its_status_and_text() -> None:
    from djbench.measure.verify import verify_answer
    from djbench.model.scenario_file import parse_scenario

    scenario = parse_scenario(
        "requests:\n  page: {path: /p/, contains: '<h1>'}\n  add: {method: POST, path: /a/, "
        "status: 201, body: {x: 1}}\n",
        "s.yaml",
    )
    assert verify_answer(scenario, "page", "GET /p/", 200, "text/html", "<h1>hi</h1>") is None
    assert verify_answer(scenario, "page", "GET /p/", 500, "text/html", "boom") == (
        "verify: GET /p/ answered 500 (expected 200): boom"
    )
    assert verify_answer(scenario, "page", "GET /p/", 200, "text/html", "<p>") == (
        "verify: GET /p/ answered without '<h1>' with no text"
    )
    # Whatever the content type: benchapp's JSON checks are not a project's.
    assert verify_answer(scenario, "add", "POST /a/", 201, "text/plain", "ok") is None


def test_benchapp_workloads_keep_their_own_checks() -> None:
    from djbench.measure.verify import verify_answer
    from djbench.model.scenario_file import load_profile

    smoke = load_profile("smoke")
    other = json.dumps({"workload": "sleep"})
    assert "unexpected body" in (
        verify_answer(smoke, "cpu", "x", 200, "application/json", other) or ""
    )


def test_bodies_go_as_json_or_as_given() -> None:
    from djbench.measure.verify import encoded_body

    assert encoded_body({"body": {"a": 1}, "headers": {}}) == (
        '{"a": 1}', {"Content-Type": "application/json"},
    )  # fmt: skip
    form = {"body": "a=1", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    assert encoded_body(form) == ("a=1", form["headers"])
    assert encoded_body({"body": None, "headers": {"X": "1"}}) == (None, {"X": "1"})


def test_a_wrong_answer_is_named_by_its_redirect_or_its_text() -> None:
    from djbench.measure.verify import verify_answer
    from djbench.model.scenario_file import parse_scenario

    scenario = parse_scenario("requests:\n  home: {path: /}\n", "s.yaml")
    # A production settings module redirecting to https: its target, not an empty body.
    moved = verify_answer(scenario, "home", "GET /", 301, "", "", location="https://x/")
    assert moved == "verify: GET / answered 301 (expected 200) → https://x/"
    assert verify_answer(scenario, "home", "GET /", 302, "", "") == (
        "verify: GET / answered 302 (expected 200) with no Location"
    )
    # Django's own 404 page with DEBUG off: its text, not its markup.
    page = (
        '<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n</head>\n'
        "<body>\n  <h1>Not Found</h1><p>The requested resource was not found.</p>\n</body>"
    )
    assert verify_answer(scenario, "home", "GET /", 404, "text/html", page) == (
        "verify: GET / answered 404 (expected 200): Not Found"
    )
    styled = "<html><head><style>h1{}</style><script>x=1</script></head><h1>Server Error</h1>"
    assert verify_answer(scenario, "home", "GET /", 500, "text/html", styled) == (
        "verify: GET / answered 500 (expected 200): Server Error"
    )
    assert verify_answer(scenario, "home", "GET /", 500, "text/plain", "\n\n") == (
        "verify: GET / answered 500 (expected 200) with an empty body"
    )
    long = "x" * 500
    said = verify_answer(scenario, "home", "GET /", 500, "text/plain", long) or ""
    assert said.endswith(": " + "x" * 200)
