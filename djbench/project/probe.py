"""Load a team's project the way its servers will, before any of them starts.

Run in the project's environment (``python -m djbench.project.probe``, with its
``DJANGO_SETTINGS_MODULE`` and import root): sets Django up, finds the WSGI and ASGI entry
points (given, from the settings, or ``<package>.wsgi`` / ``<package>.asgi`` beside the
settings; where none exists, Django's own application for the settings) and imports them.
Prints one JSON object; a project that cannot load prints one line to stderr and exits 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any


def one_line(exc: BaseException, root: Path) -> str:
    """``Type: message (file, line N)``, the line the project's own code raised at."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if _inside(Path(f.filename), root)]
    where = ""
    if own:
        shown = Path(own[-1].filename).resolve().relative_to(root)
        where = f" ({shown}, line {own[-1].lineno})"
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}{': ' + message if message else ''}{where}"


def _inside(file: Path, root: Path) -> bool:
    # Frozen modules' names (``<frozen importlib._bootstrap>``) are no files of the project.
    return file.is_absolute() and file.is_file() and file.resolve().is_relative_to(root)


def candidates(kind: str, given: str | None, setting: Any, settings_module: str) -> list[str]:
    """Where an entry point may be, in order: given, the setting (a dotted path), then a
    ``wsgi`` / ``asgi`` module in each package around the settings module, innermost first,
    then one at the top of the import root."""
    if given:
        return [given]
    found = []
    if isinstance(setting, str) and "." in setting:
        module, _, name = setting.rpartition(".")
        found.append(f"{module}:{name}")
    parts = settings_module.split(".")[:-1]
    found += [f"{'.'.join(parts[:n])}.{kind}:application" for n in range(len(parts), 0, -1)]
    found.append(f"{kind}:application")
    return list(dict.fromkeys(found))


def load(entry: str) -> None:
    """Import ``module:callable`` and check it is callable."""
    module, _, name = entry.partition(":")
    target = getattr(importlib.import_module(module), name)
    if not callable(target):
        raise TypeError(f"{entry} is not callable")


def find(kind: str, tried: list[str], root: Path, given: bool) -> dict[str, Any]:
    """The first candidate that loads; else, when none of them exists as a module and none
    was ``given``, Django's own application for the settings (``project_default``), said
    so with ``defaulted``; else every candidate's error."""
    errors = []
    absent = 0
    for entry in tried:
        try:
            load(entry)
        except Exception as exc:
            errors.append(f"{entry}: {one_line(exc, root)}")
            absent += _absent(exc, entry)
            continue
        return {"entry": entry, "error": None, "defaulted": False}
    if not given and absent == len(tried):
        from djbench.project.default_app import ENTRY_POINTS

        try:
            load(ENTRY_POINTS[kind])
        except Exception as exc:
            errors.append(f"{ENTRY_POINTS[kind]}: {one_line(exc, root)}")
        else:
            return {"entry": ENTRY_POINTS[kind], "error": None, "defaulted": True}
    said = "; ".join(errors) if errors else f"no {kind} module"
    return {"entry": None, "error": said, "defaulted": False}


def _absent(exc: BaseException, entry: str) -> bool:
    """Whether loading ``entry`` failed because its own module (or a package of its path)
    does not exist, not because of what it does when imported."""
    module = entry.partition(":")[0]
    parts = module.split(".")
    own = {".".join(parts[:n]) for n in range(1, len(parts) + 1)}
    return isinstance(exc, ModuleNotFoundError) and exc.name in own


def main(argv: list[str] | None = None) -> int:
    """Probe the project; JSON on stdout, or one line on stderr and exit 1."""
    parser = argparse.ArgumentParser(prog="djbench.project.probe")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--wsgi")
    parser.add_argument("--asgi")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    settings_module = os.environ.get("DJANGO_SETTINGS_MODULE", "")
    try:
        import django
    except ImportError:
        print(f"Django is not installed in this environment ({sys.executable})", file=sys.stderr)
        return 1
    try:
        django.setup()
        from django.conf import settings

        debug = bool(settings.DEBUG)
    except Exception as exc:
        print(f"settings {settings_module} failed to load: {one_line(exc, root)}", file=sys.stderr)
        return 1
    result = {
        "django": django.get_version(),
        "debug": debug,
        **{
            kind: find(
                kind,
                candidates(kind, given, getattr(settings, f"{kind.upper()}_APPLICATION", None),
                           settings_module),
                root,
                given=bool(given),
            )
            for kind, given in (("wsgi", args.wsgi), ("asgi", args.asgi))
        },
    }  # fmt: skip
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
