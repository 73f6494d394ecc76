"""The report on a SQLite database of views built from no loads: every day a gap, hostile names escaped,
and without the ``report`` extra a clear error after the views were built. (With loaded sandbox data, in a
real browser: ``tests/operators/test_e2e_views_report.py``.)
"""

from __future__ import annotations

import json
import re
import sys
from datetime import date
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_codex.sinks import SqlSink
from airflow_provider_codex.transfers.codex_views import CodexGovernanceViewsOperator
from airflow_provider_codex.views import DASHBOARDS, VIEWS, VIEWS_BY_NAME, build_views, read_view, render_report
from airflow_provider_codex.views.report import INSTALL_HINT, report_path, report_range
from airflow_provider_codex.windows import Window

WS = "ws_report"
FIRST, LAST = date(2026, 3, 1), date(2026, 3, 5)


@pytest.fixture
def sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SqlSink:
    conn = {"conn_type": "sqlite", "host": str(tmp_path / "views.db")}
    monkeypatch.setenv("AIRFLOW_CONN_REPORT_SQLITE", json.dumps(conn))
    return SqlSink.from_conn_id("report_sqlite")


def test_a_range_nothing_was_loaded_for_is_all_gaps_and_says_so(sink: SqlSink) -> None:
    build_views(sink, WS, Window.of_days(FIRST, LAST))
    html = render_report(sink, WS, FIRST, LAST)
    days = " ".join(f"2026-03-0{i}" for i in range(1, 6))
    for view in DASHBOARDS:
        assert f'id="chart-{view.name}"' in html
        figure = html[html.index(f'<figure class="chart" id="chart-{view.name}"') :]
        assert figure[: figure.index(">")].endswith(f'data-gap-days="{days}"')
        assert f'id="chart-{view.name}--gap--2026-03-01"' in figure
    assert '<span id="gap-day-count">5</span>' in html
    assert "2026-03-01 to 2026-03-05" in html
    assert "http" not in re.sub(r'xmlns(:\w+)?="http[^"]*"', "", html), "a URL on the page"


def test_names_from_the_database_are_escaped_in_the_page(sink: SqlSink) -> None:
    build_views(sink, WS, Window.of_days(FIRST, LAST))
    table = sink.qualified_name(VIEWS_BY_NAME["codex_view_users_by_product"].spec)
    hostile = '"><script>alert(1)</script>'
    sink.hook.run(
        f"INSERT INTO {table} (workspace_id, day, product, users, built_at) VALUES (?, ?, ?, ?, ?)",
        parameters=(WS, "2026-03-02", hostile, 3, "2026-03-06 00:00:00"),
    )
    assert any(r["product"] == hostile for r in read_view(sink, "codex_view_users_by_product", WS, FIRST, LAST))
    html = render_report(sink, WS, FIRST, LAST)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;</text>" in html  # the legend label, escaped by the SVG writer
    assert 'id="chart-codex_view_users_by_product--___script_alert_1___script_"' in html
    page = render_report(sink, "<i>ws</i>", FIRST, LAST)
    assert "<i>" not in page and "&lt;i&gt;ws&lt;/i&gt;" in page


def test_the_report_range_ends_with_the_window(sink: SqlSink) -> None:
    assert report_range(date(2026, 3, 31)) == (date(2026, 1, 1), date(2026, 3, 31))
    assert report_range(date(2026, 3, 31), "7") == (date(2026, 3, 25), date(2026, 3, 31))
    for bad in (0, "-3", "ninety", 10_000):
        with pytest.raises(ValueError, match="report_days"):
            report_range(date(2026, 3, 31), bad)


def test_without_the_extra_the_views_build_then_the_report_fails_saying_how_to_install(
    sink: SqlSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what `import matplotlib` meets when it is not installed
    operator = CodexGovernanceViewsOperator(
        task_id="views",
        sql_conn_id="report_sqlite",
        workspace_id=WS,
        start=FIRST.isoformat(),
        end="2026-03-06",
        report_path=f"file://{tmp_path / 'reports'}",
    )
    with pytest.raises(AirflowFailException, match=re.escape(INSTALL_HINT)):
        operator.execute({})
    assert len(read_view(sink, "codex_view_cli_users", WS, FIRST, LAST)) == 5, "the views were built"
    assert not (tmp_path / "reports").exists() or not list((tmp_path / "reports").rglob("*.html"))
    assert str(report_path(f"file://{tmp_path}", WS, FIRST, LAST)).endswith(
        f"codex_governance_report/workspace_id={WS}/2026-03-01_2026-03-05.html"
    )


def test_the_docs_list_every_view_with_its_columns_and_sources() -> None:
    """docs/views.md has a table row per view naming its table, every column of its files and every source."""
    rows = (Path(__file__).parents[2] / "docs" / "views.md").read_text().splitlines()
    for view in VIEWS:
        (row,) = [r for r in rows if r.startswith("| ") and f"| `{view.name}` |" in r]
        cells = row.split(" | ")
        missing = [c for c in view.export_columns if c not in ("workspace_id", "day") and f"`{c}`" not in row]
        assert not missing, f"{view.name}: columns {missing} not in the docs"
        assert all(f"`{s}`" in cells[-1] for s in view.sources), f"{view.name}: sources {view.sources} not in the docs"
        assert len(cells) >= 5 and cells[-2].strip(), f"{view.name}: no definition in the docs"
