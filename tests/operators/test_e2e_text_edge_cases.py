"""Text the API may send that a database may refuse: a NUL character.

JSON strings may carry ``\\u0000`` (a pasted binary, a terminal escape in a
task title or a tool call), and the contract says nothing against it.
PostgreSQL refuses NUL in ``TEXT`` and ``\\u0000`` in ``JSONB``, so without care
one such value fails the whole day's load, and every retry of it. SQLite and
MariaDB store it. The load must succeed everywhere, keeping the text (the NUL
kept, dropped or replaced by one character).
"""

from __future__ import annotations

import re

import pytest
from codex_e2e import SQL_KINDS, run_dag

NUL_TEXT = "before\x00after"
STORED = re.compile(r"before.?after", re.S)


@pytest.mark.databases
@pytest.mark.parametrize("kind", SQL_KINDS)
def test_text_with_a_nul_character_loads(kind, sandbox, make_destination, use_sandbox, test_dags):
    use_sandbox(sandbox)
    dest = make_destination(kind)
    sandbox.faults.extra_row_fields = {
        "code_reviews": {"reviewNote": NUL_TEXT, "reviewMeta": {"note": NUL_TEXT}},  # a TEXT column, extra_json
        "codex_tasks": {"title": NUL_TEXT},  # record_json
    }
    conf = {"start": "2026-02-12", "end": "2026-02-13", "sql_conn_id": dest.conn_id}
    for dataset in ("code_reviews", "codex_tasks"):
        run = run_dag(test_dags, f"load_sql_{dataset}", **conf)
        assert run.state == "success", f"{kind}: a NUL character in {dataset} fails the load"
    (review,) = dest.read("codex_code_reviews_daily")
    assert STORED.fullmatch(review["review_note"]), review["review_note"]
    assert STORED.fullmatch(review["extra_json"]["reviewMeta"]["note"])
    tasks = dest.read("codex_tasks")
    assert len(tasks) == len(sandbox.data.tasks()) and all(STORED.fullmatch(t["record_json"]["title"]) for t in tasks)
