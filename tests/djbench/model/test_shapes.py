"""The pod's shape as axes: a scenario's threads, workers and CPUs expanded per variant, or
its shapes as listed."""

from __future__ import annotations

import pytest

from djbench.model.errors import DjbenchError
from djbench.model.pod import Shape
from djbench.model.scenario_file import parse_scenario
from djbench.model.shapes import (
    axes_note,
    cpu_budgets,
    shaped,
    shapes_for,
    threads_ignored,
)
from djbench.model.variants import load_variants

VARIANTS = load_variants()


def test_without_shape_axes_every_variant_runs_in_its_standard_shape() -> None:
    scenario = parse_scenario("", "x")
    assert not shaped(scenario)
    assert shapes_for(scenario, VARIANTS["gunicorn-gthread"]) == [None]
    assert axes_note(scenario, list(VARIANTS.values())) is None


def test_threads_workers_and_cpus_multiply_where_they_apply() -> None:
    scenario = parse_scenario("threads: [8, 128]\nworkers: [1, 2]\ncpus: [0.5, 1]", "x")
    gthread = shapes_for(scenario, VARIANTS["gunicorn-gthread"])
    assert len(gthread) == 8
    assert gthread[0] == Shape(threads=8, workers=1, cpus=0.5)
    assert gthread[-1] == Shape(threads=128, workers=2, cpus=1.0)
    # No thread pool its command line sizes: the threads axis does not multiply it.
    assert shapes_for(scenario, VARIANTS["uvicorn"]) == [
        Shape(threads=None, workers=w, cpus=c) for w in (1, 2) for c in (0.5, 1.0)
    ]
    assert {s.threads for s in shapes_for(scenario, VARIANTS["gunicorn-sync"])} == {1}
    assert threads_ignored(scenario, [VARIANTS["uwsgi"], VARIANTS["uvicorn"]]) == ["uvicorn"]
    note = axes_note(scenario, [VARIANTS["gunicorn-gthread"], VARIANTS["granian"]])
    assert note is not None
    assert note.startswith("pod shapes: threads 8, 128 × workers 1, 2 × CPUs 0.5, 1")
    assert "threads do not apply to granian" in note


def test_one_number_is_an_axis_of_one_value() -> None:
    scenario = parse_scenario("threads: 64", "x")
    assert shaped(scenario)
    (shape,) = shapes_for(scenario, VARIANTS["uwsgi"])
    assert shape == Shape(threads=64, workers=1, cpus=1.0)
    assert VARIANTS["uwsgi"].slots(shape) == 64


LISTED = """
shapes:
  - {threads: 8}
  - {threads: 32}
  - {threads: 128}
  - {workers: 2}
  - {cpus: 0.5}
"""


def test_listed_shapes_are_measured_as_listed_not_multiplied() -> None:
    scenario = parse_scenario(LISTED, "x")
    assert shaped(scenario)
    # What a shape leaves out is the variant's standard: 32 threads, 1 worker, 1 CPU.
    assert shapes_for(scenario, VARIANTS["gunicorn-gthread"]) == [
        Shape(threads=8, workers=1, cpus=1.0),
        Shape(threads=32, workers=1, cpus=1.0),
        Shape(threads=128, workers=1, cpus=1.0),
        Shape(threads=32, workers=2, cpus=1.0),
        Shape(threads=32, workers=1, cpus=0.5),
    ]
    # Threads do not apply to gunicorn sync: its three thread shapes are its standard, once.
    assert shapes_for(scenario, VARIANTS["gunicorn-sync"]) == [
        Shape(threads=1, workers=1, cpus=1.0),
        Shape(threads=1, workers=2, cpus=1.0),
        Shape(threads=1, workers=1, cpus=0.5),
    ]
    assert shapes_for(scenario, VARIANTS["uvicorn"]) == [
        Shape(threads=None, workers=w, cpus=c) for w, c in ((1, 1.0), (2, 1.0), (1, 0.5))
    ]
    assert cpu_budgets(scenario) == [1.0, 0.5]
    assert threads_ignored(scenario, [VARIANTS["uwsgi"], VARIANTS["uvicorn"]]) == ["uvicorn"]
    note = axes_note(scenario, [VARIANTS["uwsgi"], VARIANTS["uvicorn"]])
    assert note is not None
    assert note.startswith(
        "pod shapes: threads 8; threads 32; threads 128; workers 2; CPUs 0.5 (what a shape "
        "leaves out: the variant's own threads, 1 worker, 1 CPU); threads do not apply to uvicorn"
    )


def test_a_shape_may_set_several_parts_and_none_is_the_standard() -> None:
    scenario = parse_scenario("shapes: [{}, {threads: 64, workers: 2, cpus: 2}]", "x")
    assert shapes_for(scenario, VARIANTS["uwsgi"]) == [
        Shape(threads=32, workers=1, cpus=1.0),
        Shape(threads=64, workers=2, cpus=2.0),
    ]
    assert cpu_budgets(scenario) == [1.0, 2.0]
    assert cpu_budgets(parse_scenario("cpus: [0.5, 1]", "x")) == [0.5, 1.0]
    assert cpu_budgets(parse_scenario("", "x")) == [1.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("shapes: []", "shapes: .*at least 1"),
        ("shapes: [{workers: 2}, {workers: 2}]", "give each shape once"),
        ("shapes: [{threads: 8}]\nthreads: [8]", "shapes: list the pod's shapes or give"),
        ("shapes: [{cpu: 1}]", "shapes.0.cpu: unknown key"),
        ("shapes: [{workers: 0}]", "shapes.0.workers"),
        ("workers: [0]", "workers.0"),
        ("cpus: [0]", "cpus.0"),
        ("cpus: [0.0005]", "cpus.0"),
        ("threads: [8, 8]", "each value once"),
        ("workers: []", "each value once"),
    ],
)
def test_a_bad_axis_is_one_line_naming_it(text: str, message: str) -> None:
    with pytest.raises(DjbenchError, match=message):
        parse_scenario(text, "x")


def test_labels_name_every_part_of_the_shape() -> None:
    assert Shape(threads=64, workers=1, cpus=1).label == "×64 threads · 1 worker · 1 CPU"
    assert Shape(workers=2, cpus=0.5).label == "2 workers · 0.5 CPU"
    assert Shape(threads=32, workers=2, cpus=2).slots == 64
