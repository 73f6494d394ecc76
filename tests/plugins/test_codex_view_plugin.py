"""The Codex view's plugin: registered as official providers register theirs, off where Airflow cannot serve it.

What the view shows is checked in a real api-server and browser (``test_codex_view_e2e.py``);
here: the registration, the import guard, and the parts that take outside input.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime
from importlib.metadata import entry_points

import pytest

from airflow_provider_codex.get_provider_info import get_provider_info
from airflow_provider_codex.plugins.app import render
from airflow_provider_codex.plugins.sources import ApiRefused, LoadEvent, Sources, event_from_json
from airflow_provider_codex.plugins.view import Page

PLUGIN_CLASS = "airflow_provider_codex.plugins.codex_view.CodexViewPlugin"


def test_the_provider_declares_the_plugin_in_its_info_and_as_an_entry_point():
    assert get_provider_info()["plugins"] == [{"name": "codex", "plugin-class": PLUGIN_CLASS}]
    declared = {ep.name: ep.value for ep in entry_points(group="airflow.plugins")}
    assert declared["codex"] == PLUGIN_CLASS.replace(".CodexViewPlugin", ":CodexViewPlugin")


def test_airflow_lists_the_plugin_with_its_app_and_nav_entry():
    from airflow.plugins_manager import _get_ui_plugins, ensure_plugins_loaded, get_fastapi_plugins

    ensure_plugins_loaded()
    apps, _ = get_fastapi_plugins()
    views, _ = _get_ui_plugins()
    assert [a["url_prefix"] for a in apps if a["name"] == "Codex"] == ["/codex"]
    assert [(v["href"], v["url_route"]) for v in views if v["name"] == "Codex"] == [("codex/", "codex")]


#: One interpreter for both checks (each start of one imports Airflow: tens of seconds on a busy machine).
GUARDS = textwrap.dedent(
    """
    import sys

    # Where Airflow can serve views, importing the plugin builds no app yet (every Airflow process imports it).
    import airflow_provider_codex.plugins.codex_view as view
    assert view.CodexViewPlugin.fastapi_apps and view.CodexViewPlugin.external_views
    assert "airflow_provider_codex.plugins.app" not in sys.modules, "the app was built at import"
    gone = ("airflow_provider_codex.plugins", "fastapi", "airflow.api_fastapi")
    for name in [m for m in sys.modules if m.startswith(gone)]:
        del sys.modules[name]

    class Blocker:
        # What an Airflow without plugin views lacks: the api-server's FastAPI pieces.
        def find_spec(self, name, path=None, target=None):
            if name == "fastapi" or name.startswith(("fastapi.", "airflow.api_fastapi")):
                raise ModuleNotFoundError(f"blocked: {name}")
            return None

    sys.meta_path.insert(0, Blocker())
    from airflow_provider_codex.plugins.codex_view import CodexViewPlugin
    assert CodexViewPlugin.fastapi_apps == [] and CodexViewPlugin.external_views == []
    from airflow_provider_codex.transfers.codex_to_sql import CodexToSqlOperator
    from airflow_provider_codex.hooks.codex import CodexHook
    CodexToSqlOperator(task_id="t", dataset="usage", sql_conn_id="x")
    # (Airflow itself may have imported FastAPI before the blocker; the provider imports none of it.)
    print("ok")
    """
)


def test_without_the_api_servers_fastapi_the_plugin_registers_nothing_and_the_provider_works():
    result = subprocess.run([sys.executable, "-c", GUARDS], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def event(**overrides):
    item = {
        "name": "codex.codex_usage_user_daily",
        "source_dag_id": "codex_daily",
        "source_task_id": "load_usage",
        "source_run_id": "manual__2026-03-05T00:00:00+00:00",
        "source_map_index": -1,
        "timestamp": "2026-03-06T02:00:00+00:00",
        "extra": {
            "dataset": "usage",
            "table": "raw_codex_usage_user_daily",
            "destination": {"sql_conn_id": "dest", "schema": None},
            "start": "2026-03-05",
            "end": "2026-03-06",
            "rows": 12,
        },
    }
    return item | overrides


def test_an_asset_event_is_read_as_a_codex_load_and_its_table_prefix_found():
    load = event_from_json(event())
    assert load is not None
    assert (load.dag_id, load.dataset, load.rows, load.sql_conn_id, load.table_prefix) == (
        "codex_daily",
        "usage",
        12,
        "dest",
        "raw_",
    )
    assert load.days == "2026-03-05"
    week = event_from_json(event(extra={"dataset": "usage", "start": "2026-03-01", "end": "2026-03-08"}))
    assert week is not None and week.days == "2026-03-01 to 2026-03-07"


def test_asset_events_that_are_not_codex_loads_or_are_malformed_are_skipped_or_sanitized():
    assert event_from_json(event(name="other.table")) is None
    assert event_from_json(event(source_dag_id=None)) is None  # made through the API, not by a DAG
    assert event_from_json(event(timestamp="yesterday")) is None
    odd = event_from_json(
        event(extra={"dataset": "usage", "rows": -3, "destination": {"sql_conn_id": "x'; DROP TABLE t;--"}})
    )
    assert odd is not None and odd.rows is None and odd.sql_conn_id is None
    assert event_from_json(event(extra="not an object")) is not None


def test_the_page_escapes_what_dags_wrote():
    hostile = "<script>alert(1)</script>"
    load = LoadEvent(
        dag_id=hostile,
        task_id="t",
        run_id="r",
        map_index=-1,
        table=hostile,
        timestamp=datetime(2026, 3, 6, tzinfo=UTC),
        dataset="usage",
        view=None,
        start="2026-03-05",
        end="2026-03-06",
        rows=3,
        sql_conn_id="dest",
        schema=None,
        workspace_id=None,
    )
    page = Page(Sources([hostile], [hostile], [load]), date(2026, 3, 1), date(2026, 3, 5), datetime.now(UTC))
    page.loads = [load]
    html = render(page, object())
    assert hostile not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_report_is_read_only_when_it_is_an_html_file_of_bounded_size(tmp_path, monkeypatch):
    import asyncio

    from airflow_provider_codex.plugins import reports

    report = tmp_path / "codex_governance_report" / "2026-01-01_2026-03-31.html"
    report.parent.mkdir()
    report.write_text("<html><body>report</body></html>")
    (tmp_path / "notes.txt").write_text("not a report")
    assert asyncio.run(reports.read_report(f"file://{report}")) == "<html><body>report</body></html>"
    assert asyncio.run(reports.read_report(str(report))) is not None
    assert asyncio.run(reports.read_report(str(tmp_path / "notes.txt"))) is None
    assert asyncio.run(reports.read_report(str(tmp_path / "missing.html"))) is None
    assert asyncio.run(reports.read_report(str(tmp_path))) is None  # a folder
    monkeypatch.setattr(reports, "MAX_REPORT_BYTES", 10)
    assert asyncio.run(reports.read_report(str(report))) is None


def views_event(task_id: str, timestamp: str) -> dict[str, object]:
    extra = {"view": "codex_view_cli_users", "table": "codex_view_cli_users", "workspace_id": "ws"}
    return event(name="codex.codex_view_cli_users", source_task_id=task_id, timestamp=timestamp, extra=extra)


def test_the_report_linked_is_the_one_served_when_a_newer_views_task_wrote_none():
    """A DAG whose newest views task has no ``report_path``: the page links the older one's report, and
    ``/report/<dag>`` serves that same path (it used to look at the newest views task only, and 404)."""
    import asyncio

    from airflow_provider_codex.plugins.view import build_page, latest_report_path

    report = "file:///reports/codex_governance_report/workspace_id=ws/2026-02-20_2026-03-05.html"
    returns = {"views_with_report": {"report": report}, "views_plain": {"report": None}}
    answers = {  # what Airflow's REST API answers a user who may read the DAG
        "assets": {"assets": [{"producing_tasks": [{"dag_id": "codex_daily"}]}]},
        "dags/codex_daily": {},
        "assets/events": {
            "asset_events": [
                views_event("views_plain", "2026-03-06T03:00:00+00:00"),
                views_event("views_with_report", "2026-03-06T02:00:00+00:00"),
            ]
        },
    }

    async def get(path, params):
        if path.endswith("/xcomEntries/return_value"):
            return {"value": returns[path.split("/")[-3]]}
        return answers[path]

    now = datetime(2026, 3, 6, 12, tzinfo=UTC)
    page = asyncio.run(build_page(get, now, 7))
    assert [(r.dag_id, r.run_id) for r in page.reports] == [("codex_daily", "manual__2026-03-05T00:00:00+00:00")]
    assert asyncio.run(latest_report_path(get, "codex_daily", now)) == report
    assert asyncio.run(latest_report_path(get, "other_dag", now)) is None

    async def may_not_read_the_dag(path, params):
        if path == "dags/codex_daily":
            raise ApiRefused(path, 403)
        return await get(path, params)

    with pytest.raises(ApiRefused) as refused:  # 403, as the page: not a 404 that says there is no report
        asyncio.run(latest_report_path(may_not_read_the_dag, "codex_daily", now))
    assert refused.value.status == 403
    # The link opens in the UI's own frame: that frame's sandbox has no allow-popups, a new tab would be blocked.
    html = render(page, object())
    assert '<a class="report" href="report/codex_daily">' in html
    assert "target=" not in html
