"""Django's own applications for a project that lacks a ``wsgi.py`` or ``asgi.py``.

What Django's ``startproject`` writes into those files is ``get_wsgi_application()`` /
``get_asgi_application()`` for ``DJANGO_SETTINGS_MODULE``; a project without one (older
projects often have no ``asgi.py``) is served through this module instead:
``djbench.project.default_app:wsgi`` and ``djbench.project.default_app:asgi``. Each is made on first
use, so a WSGI server never builds the ASGI handler (nor its middleware chain) and back.
Imports only Django: it runs inside the project's servers.
"""

from __future__ import annotations

from typing import Any

ENTRY_POINTS = {"wsgi": f"{__name__}:wsgi", "asgi": f"{__name__}:asgi"}
"""The entry point this module gives each interface."""


def __getattr__(name: str) -> Any:
    # PEP 562: the servers look the callable up by name, as they would in a wsgi.py; made
    # once, then a plain attribute.
    if name == "wsgi":
        from django.core.wsgi import get_wsgi_application

        made: Any = get_wsgi_application()
    elif name == "asgi":
        from django.core.asgi import get_asgi_application

        made = get_asgi_application()
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = made
    return made
