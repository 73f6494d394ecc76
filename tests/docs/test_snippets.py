"""Every code block of the README and of docs/ runs here, so a snippet that stops working fails CI.

The convention (docs/contributing.md says the same for writers): a fenced block's info
string is a language and options.

* ``text``: output or a listing; never run, takes no option.
* ``python``: run as a script by the repository's ``.venv`` Python, in a fresh process.
* ``bash``: run by ``bash -euo pipefail`` with the ``.venv``'s ``bin`` first on ``PATH``.

Both run in a fresh temp folder, in a fresh ``AIRFLOW_HOME`` (no ``AIRFLOW_*`` variable of
the test run leaks in; ``AIRFLOW__CORE__LOAD_EXAMPLES=False``), and must exit 0. Options:

* ``cwd:repo``: run at the repository root (for snippets naming its files); it must leave
  ``git status`` as it found it;
* ``fixture:sandbox``: a sandbox Codex API (:func:`codex_testing.sandbox.running_sandbox`, with
  the default ids and keys of ``codex-sandbox`` and its "now" frozen at 2026-11-25T06:00Z) is
  running; ``$CODEX_SANDBOX`` is its root URL, ``http://127.0.0.1:PORT``;
* ``fixture:airflow_home``: the metadata DB is migrated (as after ``airflow db migrate``);
* ``fixture:example_dags``: as ``airflow_home``, with ``AIRFLOW__CORE__DAGS_FOLDER`` set to
  ``example_dags/`` and those DAGs serialized (as after ``airflow dags reserialize``);
* ``server``: a command that serves until stopped: it must print ``Ctrl-C to stop.``, then is
  sent SIGINT and must exit 0;
* ``slow``: marked ``slow`` with a long timeout (a real scheduler, or minutes of ``airflow`` CLI);
* ``ran-by:<file>[::<test>]``: not run here because that file (or that test in it) runs the same
  command; checked: it exists and names every argument of every command of the block;
* ``not-run:top-commands``: the README's first block (``./scripts/demo``, ``./scripts/test``),
  checked by :func:`test_the_two_top_commands_are_the_ones_ci_and_the_demo_run`.

Anything else (no language, another language, an unknown option) fails
:func:`test_every_code_block_is_run_or_known_not_to_be`: no block is skipped silently.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    [REPO / "README.md", REPO / "packages" / "codex-testing" / "README.md", *(REPO / "docs").glob("*.md")]
)
VENV_BIN = Path(sys.executable).parent
LANGUAGES = {"python", "bash", "text"}
FIXTURES = {"sandbox", "airflow_home", "example_dags"}
FLAGS = {"slow", "server", "cwd:repo"}
NOT_RUN = {"top-commands"}
#: The sandbox's "now" for ``fixture:sandbox``, as ``codex-sandbox --now 2026-11-25T06:00:00Z``.
SANDBOX_NOW = datetime(2026, 11, 25, 6, tzinfo=UTC)
TIMEOUT, SLOW_TIMEOUT = 240, 1200


@dataclass
class Block:
    path: Path
    line: int  # 1-based, of the opening fence
    info: str
    code: str
    language: str = ""
    options: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    @property
    def fixtures(self) -> set[str]:
        return {o.removeprefix("fixture:") for o in self.options if o.startswith("fixture:")}

    @property
    def ran_by(self) -> str | None:
        return next((o.removeprefix("ran-by:") for o in self.options if o.startswith("ran-by:")), None)

    @property
    def not_run(self) -> str | None:
        return next((o.removeprefix("not-run:") for o in self.options if o.startswith("not-run:")), None)

    @property
    def runs_here(self) -> bool:
        return self.language in {"python", "bash"} and self.ran_by is None and self.not_run is None


def _classify(block: Block) -> Block:
    words = block.info.split()
    if not words:
        block.problems.append("a code block without a language: give python, bash or text")
        return block
    block.language, block.options = words[0], words[1:]
    if block.language not in LANGUAGES:
        block.problems.append(f"language {block.language!r} is neither run nor known: use python, bash or text")
    if block.language == "text" and block.options:
        block.problems.append("a text block takes no option")
    for option in block.options:
        name, _, value = option.partition(":")
        known = (
            option in FLAGS
            or (name == "fixture" and value in FIXTURES)
            or (name == "not-run" and value in NOT_RUN)
            or (name == "ran-by" and bool(value))
        )
        if not known:
            block.problems.append(f"unknown option {option!r} (see tests/docs/test_snippets.py)")
    if block.ran_by and block.not_run:
        block.problems.append("ran-by and not-run exclude each other")
    if "server" in block.options and block.language != "bash":
        block.problems.append("server is for bash blocks")
    return block


def collect(path: Path) -> list[Block]:
    tokens = MarkdownIt("commonmark").parse(path.read_text())
    blocks = []
    for token in tokens:
        if token.type == "code_block":  # indented code: always a mistake here
            assert token.map is not None
            blocks.append(Block(path, token.map[0] + 1, "", token.content, problems=["an indented code block"]))
        elif token.type == "fence":
            assert token.map is not None
            blocks.append(_classify(Block(path, token.map[0] + 1, token.info.strip(), token.content)))
    return blocks


BLOCKS = [block for path in DOCUMENTS for block in collect(path)]


def test_every_code_block_is_run_or_known_not_to_be():
    assert len(DOCUMENTS) > 3 and BLOCKS
    problems = [f"{b.where}: {p}" for b in BLOCKS for p in b.problems]
    assert problems == []
    not_run = [b for b in BLOCKS if b.not_run]
    assert [b.where for b in not_run] == ["README.md:3"], "not-run is for the README's first block only"


def test_the_two_top_commands_are_the_ones_ci_and_the_demo_run():
    """The README opens with ``./scripts/demo`` and ``./scripts/test``, which cannot run inside the suite.

    ``./scripts/test`` is the suite itself (it would recurse); ``./scripts/demo`` wipes the
    repository's ``.demo/`` and runs for minutes. So: CI's ``.ci/run`` runs exactly the README's
    test command, and the demo command runs ``scripts/demo.py``, which backfills the same example
    DAGs under the same harness as ``tests/e2e/test_backfill_e2e.py``. No test runs
    ``./scripts/demo`` itself.
    """
    first = next(b for b in BLOCKS if b.path.name == "README.md" and b.path.parent == REPO)
    assert first.not_run == "top-commands"
    commands = [line.split("#")[0].strip() for line in first.code.splitlines()]
    assert commands == ["./scripts/demo", "./scripts/test"]
    readme = (REPO / "README.md").read_text()
    assert readme.index(first.code) < readme.index("\n## "), "the two commands come before anything else"
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == "exec ./scripts/test", ci
    demo = (REPO / "scripts" / "demo").read_text()
    assert os.access(REPO / "scripts" / "demo", os.X_OK)
    assert 'exec "$VENV/bin/python" scripts/demo.py "$@"' in demo
    demo_py = (REPO / "scripts" / "demo.py").read_text()
    e2e = (REPO / "tests" / "e2e" / "test_backfill_e2e.py").read_text()
    for dag_id in ("codex_analytics_daily", "codex_compliance_daily"):
        assert f'"{dag_id}"' in demo_py and f'"{dag_id}"' in e2e
    for shared in ("airflow_cluster", "running_sandbox", "create_backfill", "example_dags"):
        assert shared in demo_py and shared in e2e, shared


def _commands(code: str) -> list[list[str]]:
    """The commands of a shell block: lines joined at trailing backslashes, comments dropped."""
    joined = re.sub(r"\\\n", " ", code)
    return [shlex.split(line, comments=True) for line in joined.splitlines() if shlex.split(line, comments=True)]


def _source_of(target: str) -> str:
    file, _, test = target.partition("::")
    path = REPO / file
    assert path.is_file(), f"ran-by names {file}, which does not exist"
    text = path.read_text()
    if not test:
        return text
    tree = ast.parse(text)
    found = next((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == test), None)
    assert found is not None, f"ran-by names {target}, but {file} has no function {test}"
    segment = ast.get_source_segment(text, found)
    assert segment is not None
    return segment


RAN_ELSEWHERE = [pytest.param(b, id=b.where) for b in BLOCKS if b.ran_by and not b.problems]


@pytest.mark.parametrize("block", RAN_ELSEWHERE)
def test_a_block_run_elsewhere_names_what_that_runs(block: Block):
    assert block.language == "bash", "ran-by is for shell blocks"
    assert block.ran_by is not None
    source = _source_of(block.ran_by)
    for command in _commands(block.code):
        program, *arguments = command
        if Path(program).name not in {"python", "python3"}:
            arguments = command  # the program itself must appear too (`./scripts/test` in .ci/run)
        missing = [a for a in arguments if a != "." and a not in source]
        assert missing == [], f"{block.ran_by} does not run {shlex.join(command)}: no {missing}"


# -- running the blocks ---------------------------------------------------------------------------


def _airflow(home: Path, *args: str, **env: str) -> None:
    done = subprocess.run(
        [str(VENV_BIN / "airflow"), *args],
        env=_clean_env(home) | env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _clean_env(home: Path) -> dict[str, str]:
    """A user's shell: none of the test run's Airflow settings, the .venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["AIRFLOW_HOME"] = str(home)
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    return env


def _copy_db(source: Path, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source / "airflow.db") as src, sqlite3.connect(home / "airflow.db") as dst:
        src.backup(dst)


@pytest.fixture(scope="session")
def migrated_home(airflow_db: Path) -> Path:
    """The suite's migrated metadata DB (tests/conftest.py), copied for each block that asks."""
    return airflow_db


@pytest.fixture(scope="session")
def example_dags_home(tmp_path_factory: pytest.TempPathFactory, migrated_home: Path) -> Path:
    home = tmp_path_factory.mktemp("docs-airflow-example-dags")
    _copy_db(migrated_home, home)
    _airflow(home, "dags", "reserialize", AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "example_dags"))
    return home


@pytest.fixture
def snippet_env(block: Block, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of one block: a fresh Airflow home, and the fixtures its info string names."""
    home = tmp_path / "airflow-home"
    home.mkdir()
    env = _clean_env(home)
    if "example_dags" in block.fixtures:
        _copy_db(request.getfixturevalue("example_dags_home"), home)
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "example_dags")
    elif "airflow_home" in block.fixtures:
        _copy_db(request.getfixturevalue("migrated_home"), home)
    if "sandbox" in block.fixtures:
        from codex_testing.sandbox import running_sandbox

        with running_sandbox(now=SANDBOX_NOW) as sandbox:
            env["CODEX_SANDBOX"] = sandbox.base_url.removesuffix("/v1")
            yield env
    else:
        yield env


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout


def _params() -> list[pytest.ParameterSet]:
    params = []
    for block in BLOCKS:
        if block.problems or not block.runs_here:
            continue
        marks = [pytest.mark.timeout(SLOW_TIMEOUT + 60 if "slow" in block.options else TIMEOUT + 60)]
        if "slow" in block.options:
            marks.append(pytest.mark.slow)
        params.append(pytest.param(block, marks=marks, id=block.where))
    return params


@pytest.mark.parametrize("block", _params())
def test_snippet_runs(block: Block, snippet_env: dict[str, str], tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    cwd = REPO if "cwd:repo" in block.options else work
    before = _git_status() if cwd == REPO else ""
    script = work / ("snippet.py" if block.language == "python" else "snippet.sh")
    script.write_text(block.code)
    command = [sys.executable, str(script)] if block.language == "python" else ["bash", "-euo", "pipefail", str(script)]
    timeout = SLOW_TIMEOUT if "slow" in block.options else TIMEOUT
    if "server" in block.options:
        (one,) = _commands(block.code)  # exec'd, so Ctrl-C (SIGINT) reaches the server itself
        _serve_then_stop(["bash", "-c", f"exec {shlex.join(one)}"], cwd, snippet_env)
    else:
        done = subprocess.run(command, cwd=cwd, env=snippet_env, capture_output=True, text=True, timeout=timeout)
        output = done.stdout[-4000:] + done.stderr[-4000:]
        assert done.returncode == 0, f"{block.where} failed ({done.returncode}):\n{block.code}\n---\n{output}"
    if cwd == REPO:
        assert _git_status() == before, f"{block.where} changed the repository:\n{_git_status()}"


def _serve_then_stop(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    log = Path(env["AIRFLOW_HOME"]) / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while "Ctrl-C to stop." not in log.read_text():
                assert server.poll() is None, f"the server exited ({server.returncode}):\n{log.read_text()}"
                assert time.monotonic() < deadline, f"the server never said it was ready:\n{log.read_text()}"
                time.sleep(0.2)
        finally:
            if server.poll() is None:
                server.send_signal(signal.SIGINT)
            code = server.wait(timeout=30)
    assert code == 0, f"the server exited with {code} on Ctrl-C:\n{log.read_text()}"


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT)
def test_without_its_dags_folder_the_dag_test_recipe_fails_as_the_docs_say(tmp_path: Path, migrated_home: Path):
    """docs/testing.md says why its recipe sets AIRFLOW__CORE__DAGS_FOLDER; this keeps that true."""
    (recipe,) = [b for b in BLOCKS if "dag.test(" in b.code and b.runs_here]
    setting = 'os.environ["AIRFLOW__CORE__DAGS_FOLDER"]'
    code = "\n".join(line for line in recipe.code.splitlines() if not line.startswith(setting))
    assert code != recipe.code.rstrip("\n"), f"{recipe.where} no longer sets the DAGs folder"
    home = tmp_path / "airflow-home"
    _copy_db(migrated_home, home)
    script = tmp_path / "recipe.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=REPO, env=_clean_env(home), capture_output=True, text=True, timeout=600
    )
    assert done.returncode != 0
    assert "because the dag is not serialized" in done.stderr, done.stderr[-3000:]
    assert "because the dag is not serialized" in (REPO / "docs" / "testing.md").read_text()


def test_links_between_the_pages_lead_somewhere():
    broken = []
    for path in DOCUMENTS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (path.parent / target).exists():
                broken.append(f"{path.relative_to(REPO)} -> {target}")
    assert broken == []


def test_the_tools_the_shell_snippets_call_are_there():
    """The shell snippets call these by name; the run puts the .venv's bin first on PATH."""
    for tool in ("airflow", "codex-sandbox"):
        assert (VENV_BIN / tool).exists(), tool
    assert shutil.which("curl"), "the sandbox snippets use curl"
