"""The folder tree is the pipeline (DESIGN.md, "Inside djbench/"): each stage in its folder,
imports only going down it, and no module too big to read whole."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "djbench"
STAGES = (
    "model",  # the shared vocabulary: variants, scenario, results, setups and load steps
    "project",  # a team's project: its djbench.yaml, loading it, Django's own application
    "contracts",  # what crosses languages and processes: k6's step, the servers' settings, charts
    "plan",  # what to measure: the measurement plan, SLO judgement, capacity search, physics
    "measure",  # k6, quantiles, collectors, path checks, counters, verification, environment
    "backends",  # local processes and Kubernetes releases
    "run",  # the runner: steps in order, results written as they come
    "analysis",  # capacities, verdicts, self-checks, statistics
    "outputs",  # the reports, compare, the capacity plan, progress
    "cli",  # the command, on top
)
"""Bottom to top: a module may import its own stage and those below it, never one above."""
MAX_LINES = 400


def _stage(module: str) -> str | None:
    """The stage of ``djbench.<stage>...``; ``cli`` for the command's own modules."""
    parts = module.split(".")
    if parts[0] != "djbench" or len(parts) < 2:
        return None
    return "cli" if parts[1] in ("cli", "__main__") else parts[1]


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        found[".".join(rel.parts).removesuffix(".__init__")] = path
    return found


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    """Every djbench module this one imports (at the top or inside a function)."""
    found = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names]
            found.append((node.lineno, base))
    return [(line, name) for line, name in found if name.startswith("djbench.")]


def test_every_module_is_in_a_stage_folder() -> None:
    loose = [
        m
        for m, path in _modules().items()
        if m.count(".") == 1
        and path.name != "__init__.py"
        and m not in ("djbench.cli", "djbench.__main__")
    ]
    assert loose == []
    unknown = {s for m in _modules() if (s := _stage(m)) is not None and s not in STAGES}
    assert unknown == set()


def test_imports_only_go_down_the_pipeline() -> None:
    rank = {stage: i for i, stage in enumerate(STAGES)}
    upward = []
    for module, path in _modules().items():
        here = _stage(module)
        if here is None:
            continue
        for line, imported in _imports(module, path):
            there = _stage(imported)
            if there is not None and there in rank and rank[there] > rank[here]:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} {here} -> {imported}")
    assert upward == []


@pytest.mark.parametrize("module", sorted(_modules()))
def test_no_module_is_too_long_to_read_whole(module: str) -> None:
    lines = len(_modules()[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines"
