"""``seed``: migrate, then load N rows into ``items`` with one set-based INSERT (idempotent).

DJANGO_SETTINGS_MODULE=benchapp.settings python -m django seed --rows 1000000
"""

from __future__ import annotations

from argparse import ArgumentParser
from time import perf_counter
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from benchapp.items.models import TABLE

DEFAULT_ROWS = 1_000_000

# The table is models.TABLE; spelled out so each statement reads as the SQL sent.
_STATE = "SELECT count(*), coalesce(min(id), 0), coalesce(max(id), 0) FROM items"
_EMPTY = "TRUNCATE items RESTART IDENTITY"
# Names and values derived from the row number, so every seeding yields the same table.
_LOAD = (
    "INSERT INTO items (name, value) "
    "SELECT 'item-' || g, (g::bigint * 7919) %% 100000 FROM generate_series(1, %s) AS g"
)
_TIDY = "VACUUM ANALYZE items"


def is_seeded(rows: int) -> bool:
    """Whether ``items`` holds exactly the ids ``1..rows`` a previous seed left."""
    with connection.cursor() as cursor:
        cursor.execute(_STATE)
        count, low, high = cursor.fetchone()
    return bool((count, low, high) == (rows, min(rows, 1), rows))


def load(rows: int) -> None:
    """Empty ``items`` (ids restart at 1) and insert ``rows`` rows in one statement."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_EMPTY)
        cursor.execute(_LOAD, [rows])
    with connection.cursor() as cursor:
        # Fresh statistics and visibility map: stable plans and index-only count(*) from the
        # first measured request on.
        cursor.execute(_TIDY)


class Command(BaseCommand):  # type: ignore[misc]  # Django ships no type hints
    help = "Create the items table (migrate) and load --rows rows, unless already loaded."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows to load")

    def handle(self, *args: Any, rows: int, **options: Any) -> None:
        if rows < 0:
            raise CommandError(f"--rows must be >= 0, got {rows}")
        start = perf_counter()
        call_command("migrate", verbosity=0, interactive=False)
        if is_seeded(rows):
            outcome = "already held"
        else:
            load(rows)
            outcome = "loaded"
        self.stdout.write(f"seed: {TABLE} {outcome} {rows} rows in {perf_counter() - start:.2f} s")
