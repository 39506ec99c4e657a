"""Scenario files: YAML read and validated, one line per problem naming the file, the field
and (for an unknown key) the keys allowed there; the shipped profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from djbench.model.errors import DjbenchError
from djbench.model.profiles import PROFILES_DIR, profile_names
from djbench.model.scenario import Scenario


def _keys_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys a mapping at ``loc`` (inside ``model``) may hold; empty when not a model's."""
    current: Any = model
    for part in loc:
        current = _model_or_items(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {(f.alias or n): f for n, f in current.model_fields.items()}
            if str(part) not in fields:
                return []
            current = fields[str(part)].annotation
        else:  # a dict's key or a list's index: into its items
            args = get_args(current)
            current = args[-1] if args else None
    current = _model_or_items(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [(f.alias or n) for n, f in current.model_fields.items()]
    return []


def _model_or_items(annotation: Any) -> Any:
    """``X | None`` as ``X``; anything else as it is."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if type(None) in get_args(annotation) and len(args) == 1:
        return args[0]
    return annotation


def format_error(source: str, exc: ValidationError, model: type[BaseModel] | None = None) -> str:
    """One line: the file, the field's dotted place and what is wrong there (for an unknown
    key, the keys allowed there when ``model`` is the file's model)."""
    first = exc.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        allowed = _keys_at(model, tuple(first["loc"][:-1])) if model is not None else []
        message = "unknown key" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")
    where = ".".join(str(p) for p in first["loc"])
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{source}: {where + ': ' if where else ''}{message}{more}"


def revalidate(scenario: Scenario, overrides: dict[str, Any], source: str) -> Scenario:
    """A copy of ``scenario`` with some fields replaced, validated like a file."""
    try:
        return Scenario.model_validate({**scenario.model_dump(by_alias=True), **overrides})
    except ValidationError as exc:
        raise DjbenchError(format_error(source, exc)) from exc


def yaml_mapping(text: str, source: str, what: str) -> dict[str, Any]:
    """YAML (or JSON) text that must hold a mapping of fields (empty text: an empty one);
    errors name ``source`` and say what ``what`` must be."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise DjbenchError(f"{source}: not valid YAML{line}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise DjbenchError(f"{source}: {what} must be a mapping of fields")
    return raw


def parse_scenario(text: str, source: str) -> Scenario:
    """Validate scenario YAML (or JSON) text; errors name the file and the field."""
    raw = yaml_mapping(text, source, "a scenario")
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise DjbenchError(format_error(source, exc, Scenario)) from exc


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise DjbenchError(f"{path}: cannot read scenario file ({exc.strerror})") from exc
    return parse_scenario(text, str(path))


def load_profile(name: str) -> Scenario:
    """One of the shipped profiles (``djbench/model/profiles/*.yaml``)."""
    path = PROFILES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise DjbenchError(f"unknown profile {name!r}; choose from: {', '.join(profile_names())}")
    return load_scenario(path)
