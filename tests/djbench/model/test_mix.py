"""A traffic mix as a workload: its parts by share, what it touches, and how a scenario
refuses a mix that cannot be sent."""

from __future__ import annotations

import pytest

from djbench.model.errors import DjbenchError
from djbench.model.mix import describe, shares
from djbench.model.scenario import Scenario
from djbench.model.scenario_file import parse_scenario


def test_weights_become_shares_of_one_in_the_given_order() -> None:
    assert shares({"upstream": 0.2, "db-read": 0.5, "cpu": 0.3}) == pytest.approx(
        {"upstream": 0.2, "db-read": 0.5, "cpu": 0.3}
    )
    got = shares({"cpu": 2, "sleep": 1})
    assert list(got) == ["cpu", "sleep"] and got == pytest.approx({"cpu": 2 / 3, "sleep": 1 / 3})
    assert describe({"upstream": 0.5, "cpu": 0.5}) == "mix: 50% upstream, 50% cpu"


def test_a_mix_is_a_workload_that_sends_its_parts() -> None:
    scenario = parse_scenario("mix: {shop: {upstream: 1, db-read: 3}}\nthink_time_ms: 40", "x")
    # By default every workload runs, the mix among them.
    assert scenario.workloads[-1] == "shop" and "cpu" in scenario.workloads
    assert scenario.parts("shop") == {"upstream": 0.25, "db-read": 0.75}
    assert scenario.parts("cpu") == {"cpu": 1.0}
    kind = scenario.kind("shop")
    assert kind.touches_db and kind.touches_upstream
    assert scenario.description_of("shop") == "mix: 25% upstream, 75% db-read"
    assert scenario.think_time_s("shop") == pytest.approx(0.04)
    assert scenario.benchapp_workload("shop") is None
    # The document k6 reads holds the parts' requests and the shares; no request is a mix.
    doc = scenario.resolved()
    assert doc["mix"] == {"shop": {"upstream": 0.25, "db-read": 0.75}}
    assert "shop" not in doc["requests"] and {"upstream", "db-read"} <= set(doc["requests"])


def test_only_the_mix_runs_when_the_workloads_name_only_it() -> None:
    scenario = parse_scenario("workloads: [half]\nmix: {half: {sleep: 1, cpu: 1}}", "x")
    assert scenario.workloads == ["half"]
    assert list(scenario.resolved()["requests"]) == ["sleep", "cpu"]
    # Its SLO is the mix's own, judged on all its requests together.
    scenario = parse_scenario(
        "workloads: [half]\nmix: {half: {sleep: 1, cpu: 1}}\nslo: {half: {p99_ms: 250}}", "x"
    )
    assert scenario.slo_for("half").p99_ms == 250


def test_a_project_s_requests_mix_by_name() -> None:
    scenario = Scenario.model_validate(
        {
            "requests": {"list": {"path": "/books/"}, "detail": {"path": "/books/1/"}},
            "mix": {"browse": {"list": 1, "detail": 4}},
        }
    )
    assert scenario.workloads == ["list", "detail", "browse"]
    assert scenario.parts("browse") == {"list": 0.2, "detail": 0.8}
    assert scenario.kind("browse").touches_db and not scenario.kind("browse").touches_upstream
    assert set(scenario.resolved()["requests"]) == {"list", "detail"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mix: {m: {cpu: 1}}", "mix m: a mix needs at least 2 parts, not 1"),
        ("mix: {m: {cpu: 1, sleep: 0}}", "mix m: sleep: a mix's weight is a number above 0"),
        ("mix: {m: {cpu: 1, nope: 1}}", "mix m: unknown workload nope; choose from: cpu"),
        ("mix: {cpu: {sleep: 1, upstream: 1}}", "mix: cpu is already a workload's name"),
        ("mix: {Shop: {sleep: 1, cpu: 1}}", "'Shop' is not a mix's name"),
        ("workloads: [m]\nparams: {m: {n: '1'}}\nmix: {m: {sleep: 1, cpu: 1}}", "params: unknown"),
    ],
)
def test_a_mix_that_cannot_be_sent_is_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(DjbenchError, match=message.replace("(", r"\(")) as caught:
        parse_scenario(text, "bad.yaml")
    assert "\n" not in str(caught.value)
