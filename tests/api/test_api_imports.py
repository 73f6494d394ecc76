"""The API layer stays Airflow-free: a static check of its import graph.

``airflow_provider_codex.api`` is the HTTP contract; it may import only itself
and the package's private helpers ``_json`` and ``_gc`` (and those, in turn,
nothing of Airflow nor of the rest of the package). Every module is read with
``ast``, so an import behind a function, an ``if TYPE_CHECKING`` or an
``importlib.import_module("...")`` counts as much as one at the top.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import airflow_provider_codex

PACKAGE = "airflow_provider_codex"
PACKAGE_DIR = Path(airflow_provider_codex.__file__).parent
API_DIR = PACKAGE_DIR / "api"
#: What the API layer may import of the package, besides ``api`` itself.
ALLOWED_HELPERS = frozenset({f"{PACKAGE}._json", f"{PACKAGE}._gc"})


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, module: str | None = None) -> Iterator[tuple[int, str]]:
    """``(line, dotted name)`` of every module ``path`` imports, relative imports resolved.

    ``module`` is the module's dotted name (by default, where ``path`` lies in the
    package). ``from a import b`` yields ``a.b`` as well as ``a``: ``b`` may be a
    module (``from airflow_provider_codex import _json``).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = module or module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            for alias in node.names:
                if alias.name != "*":
                    yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield node.lineno, first.value


def _is_dynamic_import(func: ast.expr) -> bool:
    """``importlib.import_module(...)``, ``import_module(...)`` or ``__import__(...)``."""
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in {"import_module", "__import__"}


def _within(name: str, top: str) -> bool:
    return name == top or name.startswith(top + ".")


def forbidden(name: str) -> str | None:
    """Why the API layer may not import ``name``, or None when it may."""
    if _within(name, "airflow"):
        return "Airflow"
    if not _within(name, PACKAGE) or name == PACKAGE:
        return None
    if _within(name, f"{PACKAGE}.api") or any(_within(name, helper) for helper in ALLOWED_HELPERS):
        return None
    return "a module of the package outside api/, _json and _gc"


def source_of(name: str) -> Path | None:
    """The file of package module ``name``, if it is one (not a class or function imported from one)."""
    if not _within(name, PACKAGE) or name == PACKAGE:
        return None
    relative = Path(*name.split(".")[1:])
    for candidate in (PACKAGE_DIR / relative.with_suffix(".py"), PACKAGE_DIR / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def api_closure() -> list[Path]:
    """Every module under api/, and every package module they import (the helpers), transitively."""
    todo = sorted(API_DIR.rglob("*.py"))
    seen: list[Path] = []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.append(path)
        todo += [p for _, name in imported(path) if (p := source_of(name)) is not None and p not in seen]
    return sorted(seen)


def test_the_api_modules_are_all_read():
    read = {module_name(p) for p in api_closure()}
    assert {f"{PACKAGE}.api.client", f"{PACKAGE}.api.core", f"{PACKAGE}.api.endpoints"} <= read
    assert read >= ALLOWED_HELPERS  # followed into the helpers, which must be Airflow-free too


@pytest.mark.parametrize("path", api_closure(), ids=module_name)
def test_the_api_layer_imports_nothing_of_airflow_nor_the_rest_of_the_package(path: Path):
    bad = [
        f"{path.relative_to(PACKAGE_DIR.parent)}:{line}: imports {name} ({why})"
        for line, name in imported(path)
        if (why := forbidden(name)) is not None
    ]
    assert bad == []


@pytest.mark.parametrize(
    ("source", "offender"),
    [
        ("import airflow.sdk\n", "airflow.sdk"),
        ("from airflow.sdk import BaseHook\n", "airflow.sdk"),
        ("def f():\n    from airflow_provider_codex.hooks.codex import CodexHook\n", f"{PACKAGE}.hooks.codex"),
        ("from airflow_provider_codex import load\n", f"{PACKAGE}.load"),
        ("from .. import windows\n", f"{PACKAGE}.windows"),
        ("import importlib\nimportlib.import_module('airflow.models')\n", "airflow.models"),
    ],
)
def test_the_check_catches_each_form_of_import(tmp_path: Path, source: str, offender: str):
    probe = tmp_path / "probe.py"
    probe.write_text(source, encoding="utf-8")
    names = [name for _, name in imported(probe, f"{PACKAGE}.api.probe")]
    assert offender in names
    assert any(forbidden(name) for name in names)


def test_the_check_lets_the_api_and_its_helpers_through():
    for name in (f"{PACKAGE}.api.errors", f"{PACKAGE}._json", f"{PACKAGE}._gc", PACKAGE, "httpx", "json"):
        assert forbidden(name) is None, name
