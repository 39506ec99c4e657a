"""Django app configuration for the ``items`` table."""

from __future__ import annotations

from django.apps import AppConfig


class ItemsConfig(AppConfig):  # type: ignore[misc]  # Django ships no type hints
    """The app that owns the ``Item`` model and the ``seed`` command."""

    name = "benchapp.items"
    label = "items"
