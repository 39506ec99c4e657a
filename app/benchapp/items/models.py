"""The ``Item`` model: one small row, as in a typical CRUD service."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now

TABLE = "items"
"""Table name, shared with the hand-written SQL of the raw flavor and the seed command."""

NAME_MAX_LENGTH = 100


class Item(models.Model):  # type: ignore[misc]  # Django ships no type hints
    """A named integer with its creation time."""

    name = models.CharField(max_length=NAME_MAX_LENGTH)
    value = models.IntegerField()
    # A database default, so set-based and hand-written INSERTs need not name the column.
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = TABLE
