"""The images themselves: non-root, no debug, no secrets, the app and every server inside."""

from __future__ import annotations

import json

import docker_engine as de
import pytest
from built_images import Images

from djbench.model.variants import load_variants

pytestmark = pytest.mark.docker

APP_UID = "10001"


def run(image: str, *command: str, env: dict[str, str] | None = None) -> str:
    """stdout of a throwaway container (read-only root, no network, all capabilities dropped)."""
    flags = ["--rm", "--read-only", "--network", "none", "--cap-drop", "ALL"]
    for key, value in (env or {}).items():
        flags += ["--env", f"{key}={value}"]
    return de.docker("run", *flags, image, *command, timeout=60).stdout.strip()


def config(image: str) -> dict[str, object]:
    doc = json.loads(de.docker("image", "inspect", image).stdout)[0]["Config"]
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize("which", ["django", "stubapi", "latencyproxy"])
def test_runs_as_non_root_user_10001(images: Images, which: str) -> None:
    image = getattr(images, which)
    assert config(image)["User"] == f"{APP_UID}:{APP_UID}"  # numeric: runAsNonRoot can check it
    assert run(image, "id", "-u") == APP_UID
    assert run(image, "id", "-g") == APP_UID
    # The app's code and environment belong to root: the server cannot change them.
    assert run(image, "stat", "-c", "%u %a", "/app", "/app/.venv/bin") == "0 755\n0 755"


@pytest.mark.parametrize("which", ["django", "stubapi", "latencyproxy"])
def test_no_secret_or_build_only_setting_is_baked_in(images: Images, which: str) -> None:
    image = getattr(images, which)
    env = dict(item.split("=", 1) for item in config(image)["Env"])  # type: ignore[union-attr]
    leaked = {k for k in env if "CERT" in k or "SECRET" in k or "PASSWORD" in k or "DEBUG" in k}
    assert not leaked, f"build-time settings in the image's environment: {leaked}"
    history = de.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    assert "BEGIN CERTIFICATE" not in history
    assert run(image, "sh", "-c", "ls /run/secrets 2>/dev/null | wc -l") == "0"


def test_django_image_environment(images: Images) -> None:
    cfg = config(images.django)
    env = dict(item.split("=", 1) for item in cfg["Env"])  # type: ignore[union-attr]
    assert env["DJANGO_SETTINGS_MODULE"] == "benchapp.settings"
    assert env["PATH"].startswith("/app/.venv/bin:")
    assert cfg["WorkingDir"] == "/app"
    assert "8000/tcp" in cfg["ExposedPorts"]  # type: ignore[operator]


def test_django_image_imports_the_app_and_every_server(images: Images) -> None:
    modules = "benchapp, stubapi, django, gunicorn, granian, uvicorn, uvicorn_worker, gevent, "
    modules += "uvloop, httptools, psycopg, psycopg_pool, httpx, prometheus_client"
    out = run(
        images.django,
        "python3", "-c", f"import {modules}; import psycopg.pq; print(psycopg.pq.__impl__)",
    )  # fmt: skip
    assert out == "binary"  # psycopg's own libpq: the image needs no libpq package


def test_django_settings_load_without_debug_on_a_read_only_root(images: Images) -> None:
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "from django.core.management import call_command; call_command('check'); "
        "print(settings.DEBUG)"
    )
    out = run(images.django, "python3", "-c", code, env={"DJBENCH_DEV_MODE": "1"})
    assert out.splitlines()[-1] == "False"


def test_every_server_program_is_on_path(images: Images) -> None:
    servers = sorted({v.server for v in load_variants().values()})
    assert set(servers) == {"gunicorn", "uwsgi", "uvicorn", "granian"}
    script = "; ".join(f"command -v {s} && {s} --version >/dev/null" for s in servers)
    out = run(images.django, "sh", "-ec", script)
    assert out.splitlines() == [f"/app/.venv/bin/{s}" for s in servers]


def test_stubapi_image_holds_only_the_stub_and_its_server(images: Images) -> None:
    out = run(
        images.stubapi,
        "python3", "-c",
        "import importlib.util as u, stubapi.__main__, uvicorn, uvloop, httptools; "
        "print(u.find_spec('django') is None)",
    )  # fmt: skip
    assert out == "True"
    cmd = config(images.stubapi)["Cmd"]
    assert cmd[:3] == ["python", "-m", "stubapi"]  # type: ignore[index]


def test_latencyproxy_image_holds_only_the_proxy_and_uvloop(images: Images) -> None:
    out = run(
        images.latencyproxy,
        "python3", "-c",
        "import importlib.util as u, latencyproxy.__main__, uvloop; "
        "print([m for m in ('uvicorn', 'httptools', 'django', 'stubapi') if u.find_spec(m)])",
    )  # fmt: skip
    assert out == "[]"
    cmd = config(images.latencyproxy)["Cmd"]
    assert cmd[:3] == ["python", "-m", "latencyproxy"]  # type: ignore[index]
    # Without the chart's arguments it prints its usage, naming the options the chart passes.
    usage = run(images.latencyproxy)
    for option in ("--listen", "--upstream", "--delay-ms", "--jitter-ms", "--stats"):
        assert option in usage
