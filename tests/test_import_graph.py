"""The package reads top-down: api → tables → sinks → load, the Airflow layer on top, nothing importing upwards.

The graph is read statically from every module's imports (``ast``), so a
layer that leaks fails here even where no test imports the leaking module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "airflow_provider_codex"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

#: What each room may import from the package (itself always). Airflow: see AIRFLOW_FREE.
ALLOWED: dict[str, set[str]] = {
    "_gc": set(),
    "_json": {"_gc"},
    "api": {"_json", "_gc"},
    "windows": {"api"},
    "_fast": {"tables"},  # the fast paths of tables/ and sinks/, behind one switch (reads tables.schema)
    "tables": {"api", "_json", "_fast"},
    "datasets": {"api", "tables"},
    "failures": {"api", "windows"},
    "readiness": {"api", "failures", "windows"},
    "sinks": {"tables", "_json", "_fast"},
    "load": {"api", "tables", "sinks", "datasets", "windows", "_json", "_gc"},
    "hooks": {"api", "datasets", "get_provider_info"},
    "triggers": {"api", "datasets", "failures", "readiness", "hooks", "windows"},
    "sensors": {"api", "datasets", "failures", "readiness", "hooks", "triggers", "windows"},
    "views": {"api", "datasets", "sinks", "tables", "windows"},
    "coverage": {"api", "datasets", "sinks", "tables", "windows"},
    "transfers": {
        "api",
        "coverage",
        "datasets",
        "failures",
        "hooks",
        "load",
        "sinks",
        "tables",
        "triggers",
        "views",
        "windows",
    },
    "operators": {"transfers"},
    # the Codex view in the UI (an Airflow plugin): reads coverage through the sinks, workspaces through the hook
    "plugins": {"coverage", "datasets", "hooks", "sinks"},
    "get_provider_info": {"api"},
    "__init__": set(),
}
assert not (Path(ROOT) / "__init__.py").read_text().count("import airflow_provider_codex"), (
    "the package root imports nothing"
)
#: Rooms that must not import Airflow at all.
AIRFLOW_FREE = {"_gc", "_json", "_fast", "api", "tables", "datasets", "windows"}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute (``from x import y`` counts ``x`` and ``x.y``)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
GRAPH = {m: {i for i in imports_of(p) if i in MODULES} for m, p in MODULES.items()}


def test_every_room_is_known():
    assert {room(m) for m in MODULES} <= set(ALLOWED), {room(m) for m in MODULES} - set(ALLOWED)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_upwards(module):
    here = room(module)
    # the package itself (``from airflow_provider_codex import _json``) holds only its version
    leaks = sorted(i for i in GRAPH[module] if room(i) not in {here, "__init__"} and room(i) not in ALLOWED[here])
    assert leaks == [], f"{module} ({here}) may import {sorted(ALLOWED[here])} only, imports {leaks}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if room(m) in AIRFLOW_FREE))
def test_the_lower_rooms_import_no_airflow(module):
    airflow = sorted(i for i in imports_of(MODULES[module]) if i == "airflow" or i.startswith("airflow."))
    assert airflow == [], f"{module} imports {airflow}"


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(GRAPH[module])
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        parts = module.split(".")
        todo.extend(".".join(parts[:n]) for n in range(1, len(parts)) if ".".join(parts[:n]) in MODULES)
    return seen


@pytest.mark.parametrize("module", sorted(m for m in MODULES if room(m) in {"sensors", "triggers", "hooks"}))
def test_sensors_triggers_and_hooks_reach_no_sink(module):
    reached = sorted(m for m in reachable(module) if room(m) in {"sinks", "load", "transfers"})
    assert reached == [], f"importing {module} imports {reached}"


def test_importing_the_sensors_and_triggers_loads_no_sink_at_run_time():
    """The static graph's promise, checked once in a fresh interpreter.

    (Airflow's providers manager may import ``common.sql``'s provider info on its own; that is not ours.)
    """
    code = (
        "import sys, airflow_provider_codex.sensors.codex, airflow_provider_codex.triggers.codex, "
        "airflow_provider_codex.triggers.resume\n"
        "print(sorted(m for m in sys.modules if m.startswith(('airflow_provider_codex.sinks', "
        "'airflow_provider_codex.load', 'airflow_provider_codex.transfers'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout


def test_importing_every_module_imports_no_openlineage():
    """OpenLineage is an optional extra: only the provider's own calls of the facet methods import it.

    Every module of the package, imported in a fresh interpreter (the provider is installed here), leaves
    the OpenLineage client and the provider's modules out of ``sys.modules``. (Airflow's providers manager
    reads every installed provider's ``get_provider_info`` on its own, for their settings: that is not ours.)
    """
    modules = sorted(MODULES)
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "discovery = {'airflow.providers.openlineage', 'airflow.providers.openlineage.get_provider_info'}\n"
        "print(sorted(m for m in set(sys.modules) - discovery if m.split('.')[0] == 'openlineage' "
        "or m.startswith('airflow.providers.openlineage')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=180)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
    assert "airflow_provider_codex.transfers.lineage" in modules
