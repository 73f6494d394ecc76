"""The package installs into a fresh venv and Airflow discovers the provider."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(found).exists():
        pytest.fail("uv is not installed in the test venv (scripts/bootstrap.sh installs it)")
    return found


@pytest.mark.slow
def test_wheel_installs_in_a_fresh_venv_and_airflow_lists_the_provider(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([uv(), "build", "--wheel", "-q", "-o", str(dist), str(ROOT)], check=True)
    wheel = next(dist.glob("airflow_provider_codex-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([uv(), "venv", "-q", "-p", sys.executable, str(venv)], check=True)
    env = {**os.environ, "VIRTUAL_ENV": str(venv), "AIRFLOW_HOME": str(tmp_path / "home")}
    # The wheel's own dependency list is resolved; the pins only keep versions equal to CI's.
    subprocess.run(
        [uv(), "pip", "install", "-q", str(wheel), "-c", str(ROOT / "requirements" / "dev.txt")],
        check=True,
        env=env,
    )
    airflow = str(venv / "bin" / "airflow")
    providers = subprocess.run([airflow, "providers", "list"], env=env, capture_output=True, text=True, check=True)
    assert "airflow-provider-codex" in providers.stdout
    hooks = subprocess.run([airflow, "providers", "hooks"], env=env, capture_output=True, text=True, check=True)
    codex = [line for line in hooks.stdout.splitlines() if line.startswith("codex ")]
    assert codex, hooks.stdout
    assert "airflow_provider_codex.hooks.codex.CodexHook" in codex[0]
    fields = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from airflow.providers_manager import ProvidersManager as P;"
            "w=P().connection_form_widgets;"
            "print(sorted((k, v.is_sensitive) for k, v in w.items() if k.startswith('extra__codex__')))",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for field, sensitive in [
        ("workspace_id", False),
        ("analytics_api_key", True),
        ("compliance_api_key", True),
        ("content_hash_secret", True),
        ("requests_per_minute", False),
        ("rate_period_seconds", False),
        ("rate_limit_backend", False),
        ("rate_limit_redis_conn_id", False),
    ]:
        assert f"('extra__codex__{field}', {sensitive})" in fields, fields


def _build(tmp_path: Path, project: Path) -> Path:
    dist = tmp_path / project.name
    subprocess.run([uv(), "build", "--wheel", "-q", "-o", str(dist), str(project)], check=True)
    return next(dist.glob("*.whl"))


def _wheel_contents(wheel: Path) -> tuple[list[str], str]:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        return names, zf.read(metadata).decode()


def test_runtime_wheel_carries_no_test_tools_and_no_test_only_dependency(tmp_path):
    names, metadata = _wheel_contents(_build(tmp_path, ROOT))
    modules = [n for n in names if n.endswith(".py")]
    assert any(n == "airflow_provider_codex/hooks/codex.py" for n in modules), modules
    leaked = [n for n in modules if not n.startswith("airflow_provider_codex/") or "sandbox" in n or "testing" in n]
    assert leaked == [], leaked
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert not [r for r in requires if "psutil" in r and "extra ==" not in r], requires
    assert not any(n.endswith("entry_points.txt") and "codex-sandbox" in n for n in names)


def test_testing_wheel_carries_the_sandbox_the_cluster_and_the_command(tmp_path):
    names, metadata = _wheel_contents(_build(tmp_path, ROOT / "packages" / "codex-testing"))
    for module in ("codex_testing/__init__.py", "codex_testing/cluster.py", "codex_testing/sandbox/server.py"):
        assert module in names, names
    assert not [n for n in names if n.startswith("airflow_provider_codex/")]
    assert "Requires-Dist: airflow-provider-codex" in metadata
    assert "Requires-Dist: psutil" in metadata
    with zipfile.ZipFile(_build(tmp_path / "again", ROOT / "packages" / "codex-testing")) as zf:
        entry_points = zf.read(next(n for n in zf.namelist() if n.endswith("entry_points.txt"))).decode()
    assert "codex-sandbox = codex_testing.sandbox.cli:main" in entry_points


def test_provider_info_is_valid_for_airflow_and_every_module_it_names_imports() -> None:
    """What ``airflow providers`` reads: Airflow's own schema, and modules that exist."""
    import importlib
    import json

    import airflow
    import jsonschema

    from airflow_provider_codex.get_provider_info import get_provider_info

    info = get_provider_info()
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(info, schema)
    modules = [
        m for kind in ("hooks", "operators", "sensors", "triggers") for e in info[kind] for m in e["python-modules"]
    ]
    modules += [e["python-module"] for e in info["transfers"]]
    assert "airflow_provider_codex.transfers.codex_retention_guard" in modules
    for module in modules:
        importlib.import_module(module)
