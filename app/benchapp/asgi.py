"""ASGI entry point: ``uvicorn benchapp.asgi:application``, ``granian --interface asgi ...``."""

from __future__ import annotations

import os
from importlib import import_module

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchapp.settings")

application = get_asgi_application()
# Import the URLconf (views, HTTP and DB clients) at startup, not in the first request.
import_module(settings.ROOT_URLCONF)
