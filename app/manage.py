#!/usr/bin/env python
"""Django's command line for the app under test, e.g. ``python app/manage.py seed --rows 1000``."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run a Django management command with ``benchapp.settings``."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchapp.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
