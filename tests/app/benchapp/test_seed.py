"""The ``seed`` command: migrate, one set-based load, and nothing to do the second time."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from app_helpers import SEED_ROWS


def seed(app_env: dict[str, str], rows: int) -> str:
    """Run the documented command line; return its one line of output."""
    done = subprocess.run(
        [sys.executable, "-m", "django", "seed", "--rows", str(rows)],
        env={**os.environ, **app_env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def reseed_after(django_app: None) -> Iterator[None]:
    """Put the session's seeded rows back for the other tests."""
    yield
    from django.core.management import call_command

    call_command("seed", rows=SEED_ROWS, stdout=io.StringIO())


def test_seed_is_idempotent(app_env: dict[str, str], reseed_after: None) -> None:
    from benchapp.items.models import Item

    assert re.fullmatch(r"seed: items loaded 1234 rows in \d+\.\d\d s", seed(app_env, 1234))
    assert Item.objects.count() == 1234
    assert list(Item.objects.order_by("id").values_list("id", "name", "value")[:2]) == [
        (1, "item-1", 7919),
        (2, "item-2", 15838),
    ]
    assert re.fullmatch(r"seed: items already held 1234 rows in \d+\.\d\d s", seed(app_env, 1234))

    Item.objects.create(name="extra", value=1)
    assert seed(app_env, 1234).startswith("seed: items loaded 1234 rows")
    assert Item.objects.count() == 1234
    assert Item.objects.order_by("-id").values_list("id", flat=True).first() == 1234


def test_seed_of_zero_rows_empties_the_table(app_env: dict[str, str], reseed_after: None) -> None:
    from benchapp.items.models import Item

    assert seed(app_env, 0).startswith("seed: items loaded 0 rows")
    assert Item.objects.count() == 0
    assert seed(app_env, 0).startswith("seed: items already held 0 rows")


def test_negative_rows_are_refused(django_app: None) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--rows must be >= 0"):
        call_command("seed", rows=-1)
