"""A team's djbench.yaml: validated like a scenario, one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from djbench.model.errors import DjbenchError
from djbench.model.scenario_file import load_profile, parse_scenario
from djbench.project.config import (
    database_note,
    database_values,
    load_project,
    redacted,
    render_env,
)

EXAMPLE = Path(__file__).parents[3] / "examples" / "bookshop"

MINIMAL = """
settings: shop.settings
requests:
  home:
    path: /
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "djbench.yaml").write_text(text)
    return tmp_path


def test_the_example_project_file_validates() -> None:
    found = load_project(EXAMPLE)
    assert found.name == "bookshop"
    assert found.root == EXAMPLE.resolve()
    assert list(found.project.requests) == ["book-list", "book-page", "add-review"]
    review = found.project.requests["add-review"]
    assert (review.method, review.status, review.body) == (
        "POST", 201, {"stars": 4, "text": "read under load"},
    )  # fmt: skip


def test_a_minimal_file_takes_the_conventions(tmp_path: Path) -> None:
    found = load_project(write(tmp_path, MINIMAL))
    p = found.project
    assert (p.wsgi, p.asgi, p.health_path) == (None, None, "/")
    assert p.env == {"DATABASE_URL": "{database_url}"}
    assert p.database.migrate and not p.database.fixtures and not p.database.seed
    assert found.name == tmp_path.name
    # The file itself may be given, too.
    assert load_project(tmp_path / "djbench.yaml").project == p


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            MINIMAL + "    expect_json: true\n",
            "requests.home.expect_json: unknown key; allowed "
            "here: method, path, query, headers, body, status, contains",
        ),
        (MINIMAL + "databse: {}\n", "databse: unknown key; allowed here: name, settings"),
        (
            MINIMAL + "database: {flush: true}\n",
            "database.flush: unknown key; allowed here: migrate, fixtures, seed",
        ),
        ("settings: shop.settings\n", "requests: Field required"),
        ("settings: shop.settings\nrequests: {}\n", "requests: "),
        ("requests: {home: {path: /}}\n", "settings: Field required"),
        (MINIMAL.replace("path: /", "path: /x?y=1"), "a path starts with / and holds no query"),
        (MINIMAL.replace("path: /", "path: x"), "a path starts with /"),
        (MINIMAL.replace("home:", "Home:"), "'Home' is not a name"),
        (MINIMAL + "    method: TRACE\n", "requests.home.method"),
        (MINIMAL + "    status: 99\n", "requests.home.status"),
        (MINIMAL + "wsgi: shop.wsgi\n", "wsgi: String should match pattern"),
        (MINIMAL + "env: {URL: '{db_url}'}\n", "URL: unknown placeholder {db_url}; choose from"),
        (MINIMAL + "env: {URL: '{'}\n", "URL: Single '{' encountered"),
        (MINIMAL + "slo: {nope: {p99_ms: 100}}\n", None),
        ("- a\n", "a project file must be a mapping"),
        ("settings: [\n", "not valid YAML at line"),
    ],
)
def test_bad_project_files_name_the_problem(tmp_path: Path, text: str, message: str | None) -> None:
    if message is None:  # valid here, refused once applied to a scenario (below)
        load_project(write(tmp_path, text))
        return
    with pytest.raises(DjbenchError) as info:
        load_project(write(tmp_path, text))
    assert str(info.value).startswith(str(tmp_path / "djbench.yaml") + ": ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_missing_project_says_what_project_takes(tmp_path: Path) -> None:
    with pytest.raises(DjbenchError, match="--project takes a project's directory holding"):
        load_project(tmp_path)


def test_a_root_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DjbenchError, match=r"root: .* is not a directory"):
        load_project(write(tmp_path, MINIMAL + "root: src\n"))


def test_applied_to_a_profile_its_requests_are_the_workloads() -> None:
    found = load_project(EXAMPLE)
    scenario = found.project.apply(load_profile("default"), "x")
    assert scenario.workloads == ["book-list", "book-page", "add-review"]
    # The project's SLO, and the profile's default for the rest; benchapp's are dropped.
    assert scenario.slo_for("book-page").p99_ms == 300
    assert scenario.slo_for("book-list").p99_ms == load_profile("default").default_slo.p99_ms
    assert "upstream" not in scenario.slo
    assert scenario.health_path == "/up/"
    doc = scenario.resolved()
    assert set(doc["requests"]) == set(scenario.workloads)
    review = doc["requests"]["add-review"]
    assert (review["method"], review["path"], review["status"]) == (
        "POST",
        "/books/42/reviews/",
        201,
    )
    assert review["think_time_ms"] == 0.0  # the scenario's, as the request gives none
    # What the harness needs to know of them: database yes, the stub API never.
    assert scenario.kind("book-list").touches_db
    assert not scenario.kind("book-list").touches_upstream
    assert scenario.benchapp_workload("book-list") is None


def test_a_project_mixes_its_own_requests_and_drops_the_profile_s_mix(tmp_path: Path) -> None:
    text = MINIMAL + "  list:\n    path: /books/\nmix:\n  browse: {home: 1, list: 3}\n"
    text += "slo:\n  browse: {p99_ms: 250}\n"
    project = load_project(write(tmp_path, text)).project
    # The shapes profile mixes benchapp's upstream and cpu: not this project's requests.
    assert load_profile("shapes").mix
    scenario = project.apply(load_profile("shapes"), "x")
    assert scenario.workloads == ["home", "list", "browse"]
    assert scenario.mix == {"browse": {"home": 0.25, "list": 0.75}}
    assert scenario.slo_for("browse").p99_ms == 250
    assert set(scenario.resolved()["requests"]) == {"home", "list"}
    with pytest.raises(DjbenchError, match="mix browse: unknown request cart"):
        bad = MINIMAL + "mix:\n  browse: {home: 1, cart: 1}\n"
        load_project(write(tmp_path, bad)).project.apply(load_profile("smoke"), "x")


def test_a_request_name_neither_the_project_nor_benchapp_knows_is_refused(tmp_path: Path) -> None:
    found = load_project(write(tmp_path, MINIMAL + "slo: {nope: {p99_ms: 100}}\n"))
    with pytest.raises(DjbenchError, match="slo: unknown request nope; choose from: home"):
        found.project.apply(load_profile("smoke"), "x")
    # benchapp's workload names mean nothing to a project either.
    with pytest.raises(DjbenchError, match="workloads: unknown request cpu; choose from: home"):
        parse_scenario("requests: {home: {path: /}}\nworkloads: [cpu]", "s.yaml")


def test_a_project_calls_no_stub_api_at_a_distance(tmp_path: Path) -> None:
    found = load_project(write(tmp_path, MINIMAL))
    far = parse_scenario("network: {upstream_rtt_ms: [50]}", "s.yaml")
    with pytest.raises(DjbenchError, match=r"network\.upstream_rtt_ms puts djbench.s stub API"):
        found.project.apply(far, "x")
    near = parse_scenario("network: {db_rtt_ms: [0, 50]}", "s.yaml")
    assert found.project.apply(near, "x").network.db_rtt_ms == [0, 50]


def test_a_request_may_pause_on_its_own(tmp_path: Path) -> None:
    text = MINIMAL + "    think_time_ms: 250\n"
    scenario = load_project(write(tmp_path, text)).project.apply(
        parse_scenario("think_time_ms: 10", "s.yaml"), "x"
    )
    assert scenario.think_time_s("home") == 0.25
    assert scenario.resolved()["requests"]["home"]["think_time_ms"] == 250


def test_placeholders_are_filled_from_the_database_url() -> None:
    url = "postgres://djbench:s3cret@127.0.0.1:5433/djbench"
    values = {**database_values(url), "secret_key": "k", "allowed_hosts": "h"}
    env = {
        "A": "{database_url}",
        "B": "{db_host}:{db_port}/{db_name}",
        "C": "{db_user}/{secret_key}",
    }
    assert render_env(env, values) == {
        "A": url, "B": "127.0.0.1:5433/djbench", "C": "djbench/k",
    }  # fmt: skip
    assert database_values("postgres://u@db/x")["db_port"] == "5432"


def test_a_database_url_is_recorded_without_its_password() -> None:
    assert redacted("postgres://u:pw@db.example:5433/x") == "postgres://u:***@db.example:5433/x"
    assert redacted("postgres://db/x") == "postgres://db/x"
    note = database_note("postgres://u:pw@db/x")
    assert "pw" not in note and "did not create, migrate, seed or reset it" in note
    assert database_note(None).startswith("embedded Postgres")


def test_a_database_url_can_point_at_a_proxy() -> None:
    from djbench.project.config import with_address

    url = "postgres://djbench:p%40ss@127.0.0.1:5433/djbench?sslmode=disable"
    assert with_address(url, "127.0.0.1", 9999) == (
        "postgres://djbench:p%40ss@127.0.0.1:9999/djbench?sslmode=disable"
    )
    assert with_address("postgres://db/x", "h", 1) == "postgres://h:1/x"


def test_on_each_server_reads_run_before_writes(tmp_path: Path) -> None:
    text = (
        "settings: shop.settings\nrequests:\n"
        "  buy: {method: POST, path: /buy/, status: 201}\n"
        "  home: {path: /}\n"
        "  drop: {method: DELETE, path: /cart/}\n"
        "  cart: {path: /cart/}\n"
    )
    scenario = load_project(write(tmp_path, text)).project.apply(load_profile("smoke"), "x")
    assert scenario.workloads == ["home", "cart", "buy", "drop"]


def test_conventional_entry_points_follow_the_probe_s_first_guess(tmp_path: Path) -> None:
    found = load_project(EXAMPLE)
    assert found.project.conventional_entry_points() == {
        "wsgi": "bookshop.wsgi:application", "asgi": "bookshop.asgi:application",
    }  # fmt: skip
    # A settings module at the top of the import root: the entry points beside it.
    top = load_project(write(tmp_path, MINIMAL.replace("shop.settings", "settings")))
    assert top.project.conventional_entry_points()["wsgi"] == "wsgi:application"
    info = found.info({"wsgi": "bookshop.wsgi:application"}, "embedded")
    assert (info.name, info.settings, info.env) == (
        "bookshop",
        "bookshop.settings",
        found.project.env,
    )
