"""A team's project loaded as its servers will load it (a real child process, real Django):
one line for each way it can fail, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from djbench.model.errors import DjbenchError
from djbench.model.variants import Variant, load_variants, resolve_variants
from djbench.project.check import check_servers, missing_servers, prepare, project_env
from djbench.project.config import load_project

SETTINGS = """
import os
SECRET_KEY = os.environ["SHOP_SECRET"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = []
ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": os.environ["DB"]}}
"""
ENTRY = """
from django.core.{kind} import get_{kind}_application
application = get_{kind}_application()
"""
PROJECT = """
settings: shop.settings
env: {SHOP_SECRET: "{secret_key}", DB: "{db_name}"}
requests:
  home:
    path: /
"""


def make_project(tmp_path: Path, settings: str = SETTINGS, asgi: bool = True) -> Path:
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "__init__.py").write_text("")
    (shop / "settings.py").write_text(settings)
    (shop / "urls.py").write_text("urlpatterns = []\n")
    (shop / "wsgi.py").write_text(ENTRY.format(kind="wsgi"))
    if asgi:
        (shop / "asgi.py").write_text(ENTRY.format(kind="asgi"))
    (tmp_path / "djbench.yaml").write_text(PROJECT)
    return tmp_path


def every() -> list[Variant]:
    return resolve_variants(None)


def test_entry_points_are_found_by_django_s_conventions(tmp_path: Path) -> None:
    prepared = prepare(load_project(make_project(tmp_path)), every())
    assert prepared.entry_points == {
        "wsgi": "shop.wsgi:application",  # from WSGI_APPLICATION
        "asgi": "shop.asgi:application",  # beside the settings
    }
    assert prepared.django.startswith("5.")


def test_given_entry_points_win(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    (root / "shop" / "serve.py").write_text("from shop.asgi import application as app\n")
    (root / "djbench.yaml").write_text(PROJECT + "asgi: shop.serve:app\n")
    prepared = prepare(load_project(root), every())
    assert prepared.entry_points["asgi"] == "shop.serve:app"


def test_broken_settings_name_the_line(tmp_path: Path) -> None:
    root = make_project(tmp_path, SETTINGS.replace("DEBUG = False", "DEBUG = Flase"))
    with pytest.raises(DjbenchError) as info:
        prepare(load_project(root), every())
    assert str(info.value) == (
        f"{tmp_path.name}: settings shop.settings failed to load: "
        "NameError: name 'Flase' is not defined (shop/settings.py, line 4)"
    )


def test_a_settings_module_that_does_not_exist(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    (root / "djbench.yaml").write_text(PROJECT.replace("shop.settings", "shop.setings"))
    with pytest.raises(
        DjbenchError,
        match=r"settings shop.setings failed to load: "
        r"ModuleNotFoundError: No module named 'shop.setings'$",
    ):
        prepare(load_project(root), every())


def test_debug_on_is_refused(tmp_path: Path) -> None:
    root = make_project(tmp_path, SETTINGS.replace("DEBUG = False", "DEBUG = True"))
    with pytest.raises(DjbenchError, match="have DEBUG = True; measure the project as it is"):
        prepare(load_project(root), every())


def test_a_project_without_asgi_py_is_served_by_django_s_own_application(
    tmp_path: Path,
) -> None:
    # What startproject writes into asgi.py, for the same settings: no file to add.
    root = make_project(tmp_path, asgi=False)
    prepared = prepare(load_project(root), every())
    assert prepared.entry_points == {
        "wsgi": "shop.wsgi:application",
        "asgi": "djbench.project.default_app:asgi",
    }
    assert prepared.defaulted == ("asgi",)
    # WSGI variants alone need no ASGI entry point at all.
    wsgi = [v for v in load_variants().values() if v.interface == "wsgi" and v.standard]
    assert prepare(load_project(root), wsgi).entry_points == {"wsgi": "shop.wsgi:application"}


def test_an_asgi_py_that_fails_to_import_is_not_replaced(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    (root / "shop" / "asgi.py").write_text("import channels_not_installed\n")
    with pytest.raises(DjbenchError) as info:
        prepare(load_project(root), every())
    message = str(info.value)
    assert message.startswith(f"{tmp_path.name}: no ASGI entry point for uvicorn, ")
    # Every candidate tried, each with what stopped it.
    assert (
        "shop.asgi:application: ModuleNotFoundError: No module named "
        "'channels_not_installed' (shop/asgi.py, line 1); "
        "asgi:application: ModuleNotFoundError: No module named 'asgi'"
    ) in message
    assert "give `asgi: module:callable` in" in message and "\n" not in message


def test_a_given_entry_point_that_does_not_exist_is_not_replaced(tmp_path: Path) -> None:
    root = make_project(tmp_path, asgi=False)
    (root / "djbench.yaml").write_text(PROJECT + "asgi: shop.asgi:application\n")
    with pytest.raises(DjbenchError, match="no ASGI entry point for uvicorn"):
        prepare(load_project(root), every())


def test_a_given_entry_point_that_is_not_callable(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    (root / "djbench.yaml").write_text(PROJECT + "wsgi: shop.urls:urlpatterns\n")
    with pytest.raises(
        DjbenchError,
        match=r"no WSGI entry point for gunicorn-sync.*"
        r"shop.urls:urlpatterns: TypeError: shop.urls:urlpatterns is not callable",
    ):
        prepare(load_project(root), every())


def test_the_project_s_processes_import_it_first(tmp_path: Path) -> None:
    found = load_project(make_project(tmp_path))
    env = project_env(found, "postgres://u:p@h:1/shopdb", "sekrit")
    assert env["DJANGO_SETTINGS_MODULE"] == "shop.settings"
    assert env["PYTHONPATH"].split(":")[0] == str(tmp_path.resolve())
    assert (env["SHOP_SECRET"], env["DB"]) == ("sekrit", "shopdb")


def write_distribution(site: Path, name: str, requires: list[str]) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    lines = [f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\nProvides-Extra: servers\n"]
    lines += [f"Requires-Dist: {r}\n" for r in requires]
    (info / "METADATA").write_text("".join(lines))


def test_servers_missing_from_the_environment_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_distribution(tmp_path, "fakebench", [
        "pyyaml>=1",  # a core dependency: not the servers' business
        "surely-not-installed-here>=1; extra == 'servers'",
        "pytest<1; extra == 'servers'",
        "pyyaml>=1; extra == 'servers'",
    ])  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    problems = missing_servers("fakebench")
    assert problems[0] == "surely-not-installed-here is not installed"
    assert problems[1].startswith("pytest ") and problems[1].endswith("djbench's servers need <1")
    assert len(problems) == 2


def test_this_environment_has_every_server() -> None:
    assert missing_servers() == []
    check_servers()  # no error
