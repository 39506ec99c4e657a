"""Settings of the bookshop, read from its environment as a deployed project's are."""

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ["BOOKSHOP_SECRET_KEY"]
DEBUG = os.environ.get("BOOKSHOP_DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("BOOKSHOP_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "shelf",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "bookshop.urls"
WSGI_APPLICATION = "bookshop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]


def _database(url: str, pool: bool) -> dict[str, object]:
    """DATABASES["default"] from a postgres:// URL (what dj-database-url does)."""
    parts = urlsplit(url)
    database: dict[str, object] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or 5432),
    }
    if pool:
        # psycopg's pool (Django 5.1+), shared by every thread of the process.
        return {**database, "OPTIONS": {"pool": {"min_size": 2, "max_size": 16}}}
    # Persistent connections, one per thread, checked before reuse.
    return {**database, "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}


DATABASES = {
    "default": _database(os.environ["DATABASE_URL"], os.environ.get("BOOKSHOP_DB_POOL") == "1")
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
