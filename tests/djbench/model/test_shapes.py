"""The pod's shape as axes: a scenario's threads, workers and CPUs expanded per variant."""

from __future__ import annotations

import pytest

from djbench.model.errors import DjbenchError
from djbench.model.pod import Shape
from djbench.model.scenario_file import parse_scenario
from djbench.model.shapes import axes_note, shaped, shapes_for, threads_ignored
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


@pytest.mark.parametrize(
    ("text", "message"),
    [
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
