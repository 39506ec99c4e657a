"""WSGI entry point: ``gunicorn benchapp.wsgi:application``, ``uwsgi --module ...``."""

from __future__ import annotations

import os
from importlib import import_module

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchapp.settings")

application = get_wsgi_application()
# Import the URLconf (views, HTTP and DB clients) at startup, not in the first request.
import_module(settings.ROOT_URLCONF)
