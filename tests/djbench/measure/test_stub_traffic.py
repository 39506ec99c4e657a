from __future__ import annotations

import pytest

from djbench.measure.stub_traffic import parse_traffic, stats_path
from djbench.model.errors import DjbenchError


def test_stats_path_names_the_window_to_the_millisecond() -> None:
    assert (
        stats_path(1700000000.12345, 1700000002.5) == "/stats?from=1700000000.123&to=1700000002.500"
    )


def test_parse_traffic() -> None:
    body = '{"from": 1.0, "to": 3.0, "connections": 4, "calls": 96, "peak_in_flight": 24}'
    traffic = parse_traffic(body)
    assert (traffic.connections, traffic.calls, traffic.peak_in_flight) == (4, 96, 24)
    assert traffic.connections_per_call == pytest.approx(4 / 96)


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '{"connections": 1}',
        '{"connections": -1, "calls": 1, "peak_in_flight": 1}',
    ],
)
def test_a_malformed_answer_is_one_line(body: str) -> None:
    with pytest.raises(DjbenchError, match="stub API /stats answered unexpectedly"):
        parse_traffic(body)
