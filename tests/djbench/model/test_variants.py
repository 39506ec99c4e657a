from __future__ import annotations

import pytest

from benchapp.catalog import VIEW_FLAVORS
from djbench.model.errors import DjbenchError
from djbench.model.pod import Shape
from djbench.model.variants import load_variants, resolve_variants, standard_variants

STANDARD = [
    "gunicorn-sync", "gunicorn-gthread", "gunicorn-gevent", "uwsgi", "uvicorn",
    "gunicorn-uvicorn", "granian",
]  # fmt: skip
WORKER_FLAGS = {"--workers", "--processes"}


def test_standard_line_up_is_the_seven_variants() -> None:
    assert standard_variants() == STANDARD


@pytest.mark.parametrize("name", list(load_variants()))
def test_every_command_runs_exactly_one_worker(name: str) -> None:
    argv = load_variants()[name].command("127.0.0.1", 8123)
    counts = [argv[i + 1] for i, arg in enumerate(argv) if arg in WORKER_FLAGS]
    assert counts == ["1"], argv
    assert "127.0.0.1" in " ".join(argv)
    assert "8123" in " ".join(argv)
    assert not any("{" in arg for arg in argv), argv


@pytest.mark.parametrize("name", list(load_variants()))
def test_every_command_serves_the_project_for_its_interface(name: str) -> None:
    variant = load_variants()[name]
    default = f"benchapp.{variant.interface}:application"
    assert default in variant.command("h", 1)
    # Another project's entry point (a team's own, `--project`) replaces it, and only it.
    other = variant.command("h", 1, app=f"team.{variant.interface}:app")
    assert [a for a in other if a not in variant.command("h", 1)] == [
        f"team.{variant.interface}:app"
    ]


def test_a_shape_reaches_the_command_line_its_threads_where_it_takes_them() -> None:
    shape = Shape(threads=4, workers=3)
    gthread = load_variants()["gunicorn-gthread"].command("h", 1, shape)
    assert gthread[gthread.index("--threads") + 1] == "4"
    assert gthread[gthread.index("--workers") + 1] == "3"
    sync = load_variants()["gunicorn-sync"].command("h", 1, shape)
    assert sync[sync.index("--threads") + 1] == "1"
    assert sync[sync.index("--workers") + 1] == "3"
    uwsgi = load_variants()["uwsgi"].command("h", 1, shape)
    assert uwsgi[uwsgi.index("--processes") + 1] == "3"
    standard = load_variants()["gunicorn-gthread"].command("h", 1)
    assert standard[standard.index("--workers") + 1] == "1"
    assert standard[standard.index("--threads") + 1] == "32"


def test_views_are_known_flavors_and_crossed_is_labelled() -> None:
    variants = load_variants()
    assert all(v.views in VIEW_FLAVORS for v in variants.values())
    assert variants["uvicorn-syncviews"].crossed
    assert variants["uvicorn-syncviews"].label.endswith("(crossed)")
    assert not variants["uvicorn"].crossed
    assert not variants["gunicorn-sync"].crossed


def test_resolve_variants() -> None:
    assert [v.name for v in resolve_variants(None)] == STANDARD
    assert len(resolve_variants(["all"])) == len(load_variants())
    assert [v.name for v in resolve_variants(["uvicorn", "uvicorn"])] == ["uvicorn"]
    with pytest.raises(DjbenchError, match="unknown variant nope"):
        resolve_variants(["nope"])


@pytest.mark.parametrize(
    ("name", "slots", "with_override"),
    [
        ("gunicorn-sync", 1, 1),  # its command line pins one thread
        ("gunicorn-gthread", 32, 8),
        ("uwsgi", 32, 8),
        ("gunicorn-gevent", None, None),
        ("uvicorn", None, None),
        ("uvicorn-syncviews", None, None),
        ("gunicorn-gthread-asyncviews", 32, 8),
    ],
)
def test_slots_say_how_many_requests_a_worker_holds(
    name: str, slots: int | None, with_override: int | None
) -> None:
    variant = load_variants()[name]
    assert variant.slots() == slots
    assert variant.slots(Shape(threads=8)) == with_override
    # Workers × threads: each worker process holds its own.
    two = variant.slots(Shape(threads=8, workers=2))
    assert two == (None if with_override is None else 2 * with_override)
    assert variant.worker_slots(Shape(threads=8, workers=2)) == with_override


def test_only_benchapp_s_view_flavors_set_some_variants_apart() -> None:
    variants = load_variants()
    assert not any(variants[n].benchapp_only for n in standard_variants())
    assert {n for n, v in variants.items() if v.benchapp_only} == {
        "uvicorn-s2a", "uvicorn-raw", "uvicorn-syncviews", "gunicorn-gthread-asyncviews",
    }  # fmt: skip
