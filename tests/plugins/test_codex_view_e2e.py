"""The Codex view in a real Airflow UI, in a real headless Chromium, against a real destination.

One deployment for every check (module fixture): a real api-server, scheduler
and dag-processor (:mod:`codex_testing.cluster`) with the provider installed,
so Airflow loads its plugin through the ``airflow.plugins`` entry point, and
the SimpleAuthManager with three users of its own (passwords written before
it starts): ``admin``, ``viewer`` (read-only) and ``outsider`` (no role: may
read nothing). A DAG of the provider's operators loads 10 days of ``usage``
and ``compliance_events`` from the sandbox into a SQLite destination; then
the test deletes 3 of those days from the destination's tables. The same DAG
stores ``usage`` in a local folder too (``CodexToStorageOperator``), one of
whose days' partitions the test removes. After the loads, the DAG's views task
(``CodexGovernanceViewsOperator``) builds the views in the SQLite destination and
writes the governance report into a local folder.

Checked:

* the viewer logs in through the auth manager's own login page, opens
  *Browse → Codex* in the UI's navigation, and the calendar's cells say, day by
  day, what the destination holds (loaded where its tables have the day's
  rows, missing elsewhere, the deleted days included; compliance days past
  the retention ``lost``, those near it ``expiring``); the latest loads show
  the row counts the destination held; the storage destination's calendar
  has its partitions' days loaded, the removed one missing;
* the page links the views task's governance report; following the link in the
  UI's frame renders the file the task wrote (its title, one chart with an ``svg``
  per dashboard), served with the sandboxing CSP;
* a request without credentials gets 401, a forged token 403, and the outsider
  (a valid token of the auth manager, no read access) 403, for the page and the report;
* no key, salt, compliance content or actor (as the destination holds them) is on the page.

``CODEX_SCREENSHOTS=1`` also saves the page as ``docs/images/airflow-codex-view.png`` (docs/airflow-ui.md)::

    CODEX_SCREENSHOTS=1 python -m pytest tests/plugins/test_codex_view_e2e.py -m slow
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import textwrap
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest
from codex_testing import AirflowCluster, airflow_cluster, connection_env
from codex_testing.browser import chromium_page, loopback_only
from codex_testing.days import complete_days, day_range
from codex_testing.sandbox import RunningSandbox, running_sandbox

from airflow_provider_codex.datasets import get_dataset
from airflow_provider_codex.tables import CONTENT_FIELDS
from airflow_provider_codex.views import DASHBOARDS
from airflow_provider_codex.windows import DEFAULT_GRACE

if TYPE_CHECKING:
    from playwright.sync_api import FrameLocator

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "images" / "airflow-codex-view.png"
DAG_ID = "codex_view_e2e"
DEST_CONN = "codex_view_dest"
DATASETS = ("usage", "compliance_events")
LOADED_DAYS = 7
#: How many loaded days (with rows in every dataset's first table) are deleted from the destination afterwards.
DELETED = 3
#: The calendar's range by default (``DEFAULT_DAYS`` of the view).
SHOWN_DAYS = 35
#: Where the page links the DAG's governance report.
REPORT_URL_PATH = f"/codex/report/{DAG_ID}"
PASSWORDS = {"admin": "admin-pass-1", "viewer": "viewer-pass-1", "outsider": "outsider-pass-1"}
SALT = "view-e2e-salt-never-shown"
#: The governance report's range (days ending with the views' last day): small, it is drawn in the task.
REPORT_DAYS = 14
DAG_FILE = f'''
from datetime import UTC, datetime

from airflow.sdk import DAG

from airflow_provider_codex.transfers.codex_to_sql import CodexToSqlOperator
from airflow_provider_codex.transfers.codex_to_storage import CodexToStorageOperator
from airflow_provider_codex.transfers.codex_views import CodexGovernanceViewsOperator

with DAG(dag_id="{DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC), catchup=False, tags=["codex"]):
    loads = [
        CodexToSqlOperator(
            task_id=f"load_{{dataset}}",
            dataset=dataset,
            sql_conn_id="{DEST_CONN}",
            start="{{{{ dag_run.conf['start'] }}}}",
            end="{{{{ dag_run.conf['end'] }}}}",
        )
        for dataset in {DATASETS!r}
    ]
    loads >> CodexGovernanceViewsOperator(
        task_id="views",
        sql_conn_id="{DEST_CONN}",
        start="{{{{ dag_run.conf['start'] }}}}",
        end="{{{{ dag_run.conf['end'] }}}}",
        report_path="{{{{ dag_run.conf['reports'] }}}}",
        report_days={REPORT_DAYS},
    )
    CodexToStorageOperator(
        task_id="store_usage",
        dataset="usage",
        path="{{{{ dag_run.conf['lake'] }}}}",
        start="{{{{ dag_run.conf['start'] }}}}",
        end="{{{{ dag_run.conf['end'] }}}}",
    )
'''


@dataclass
class Deployment:
    cluster: AirflowCluster
    sandbox: RunningSandbox
    destination: Path
    lake: Path
    reports: Path
    loaded: tuple[date, ...]
    deleted: tuple[date, ...]
    rows_loaded: dict[str, int]
    started_in: float


def days_held(destination: Path, table: str, workspace_id: str) -> set[date]:
    """The days ``table`` of the destination has rows for."""
    with closing(sqlite3.connect(destination)) as db:
        rows = db.execute(f'SELECT DISTINCT "day" FROM "{table}" WHERE workspace_id = ?', [workspace_id]).fetchall()
    return {date.fromisoformat(str(day)[:10]) for (day,) in rows}


def delete_days(destination: Path, days: tuple[date, ...]) -> None:
    """Remove ``days`` from every table of the datasets, as a careless clean-up would."""
    with closing(sqlite3.connect(destination)) as db:
        for dataset in DATASETS:
            for spec in get_dataset(dataset).tables:
                for day in days:
                    db.execute(f'DELETE FROM "{spec.name}" WHERE substr("day", 1, 10) = ?', [day.isoformat()])
        db.commit()


def content_values(destination: Path) -> set[str]:
    """The compliance content (hashed, as loaded) and the actors the destination holds: none may reach the page."""
    columns = ", ".join(f'"{c}"' for c in (*CONTENT_FIELDS, "actor_email", "client_ip"))
    with closing(sqlite3.connect(destination)) as db:
        rows = db.execute(f'SELECT {columns} FROM "codex_compliance_events" LIMIT 200').fetchall()
    return {str(v) for row in rows for v in row if v is not None and len(str(v)) >= 8}


def delete_partitions(lake: Path, days: tuple[date, ...], workspace_id: str) -> None:
    """Remove ``days``' partitions of every usage table from the storage destination."""
    removed = 0
    for spec in get_dataset("usage").tables:
        for day in days:
            folder = lake / spec.name / f"workspace_id={workspace_id}" / f"day={day.isoformat()}"
            if folder.is_dir():
                shutil.rmtree(folder)
                removed += 1
    assert removed >= len(days), f"no partition of {days} under {lake}"


def table_rows(destination: Path, table: str) -> int:
    with closing(sqlite3.connect(destination)) as db:
        return int(db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0])


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    started = time.monotonic()
    root = tmp_path_factory.mktemp("codex-view")
    home, dags = root / "home", root / "dags"
    home.mkdir()
    dags.mkdir()
    (dags / "codex_view_e2e.py").write_text(textwrap.dedent(DAG_FILE))
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    destination = root / "destination.db"
    config = {
        "core.simple_auth_manager_all_admins": "False",
        "core.simple_auth_manager_users": "admin:admin,viewer:viewer,outsider:",
        "core.simple_auth_manager_passwords_file": str(passwords),
        "scheduler.use_job_schedule": "False",
        "dag_processor.min_file_process_interval": "3600",
    }
    with running_sandbox(seed=31, users=6, events_per_day=120) as sandbox:
        plan = complete_days(sandbox, LOADED_DAYS, grace=DEFAULT_GRACE, within=timedelta(minutes=15))
        loaded = plan.compliance[-LOADED_DAYS:]  # held by both APIs
        assert len(loaded) == LOADED_DAYS, plan
        env = connection_env("codex_default", sandbox.connection(SALT))
        env |= connection_env(DEST_CONN, {"conn_type": "sqlite", "host": str(destination)})
        components = ("api-server", "scheduler", "dag-processor")
        with airflow_cluster(dags, env=env, config=config, home=home, components=components) as cluster:
            cluster.login("admin", PASSWORDS["admin"])
            cluster.wait_for_dag(DAG_ID)
            cluster.unpause(DAG_ID)
            end = (loaded[-1] + timedelta(days=1)).isoformat()
            conf = {
                "start": loaded[0].isoformat(),
                "end": end,
                "lake": f"file://{root / 'lake'}",
                "reports": f"file://{root / 'reports'}",
            }
            run_id = cluster.trigger_dag(DAG_ID, conf=conf)
            state = cluster.wait_for_dag_run(DAG_ID, run_id, timeout=300)
            assert state == "success", cluster.task_logs(DAG_ID, run_id)[-6000:]
            rows = {spec.name: table_rows(destination, spec.name) for d in DATASETS for spec in get_dataset(d).tables}
            # A quiet day (no rows) stays loaded however much is deleted: delete days that hold rows.
            with_rows = set.intersection(
                *(days_held(destination, get_dataset(d).tables[0].name, sandbox.workspace_id) for d in DATASETS)
            )
            deleted = tuple(sorted(with_rows))[1 : 1 + DELETED]
            assert len(deleted) == DELETED, with_rows
            delete_days(destination, deleted)
            delete_partitions(root / "lake", deleted[:1], sandbox.workspace_id)
            views = cluster.api("GET", f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/views")
            print(f"\ndeployment ready in {time.monotonic() - started:.0f}s (views task {views['duration']:.1f}s)")
            print(cluster.timings)
            ready = time.monotonic() - started
            yield Deployment(
                cluster, sandbox, destination, root / "lake", root / "reports", loaded, deleted, rows, ready
            )


def cells(view: FrameLocator, destination: str, dataset: str) -> dict[date, str]:
    """``{day: status}`` of one dataset's row of one destination's calendar, as the DOM has it."""
    row = f'section.destination[data-destination="{destination}"] tr.dataset-row[data-dataset="{dataset}"]'
    found = view.locator(f"{row} td.day").evaluate_all("cells => cells.map(c => [c.dataset.day, c.dataset.status])")
    return {date.fromisoformat(day): status for day, status in found}


def shown_range(now: datetime) -> tuple[date, ...]:
    last = (now - timedelta(days=1)).date()
    return day_range(last - timedelta(days=SHOWN_DAYS - 1), last)


def test_the_logged_in_viewer_sees_each_day_as_the_destination_holds_it(deployment: Deployment) -> None:
    cluster, workspace = deployment.cluster, deployment.sandbox.workspace_id
    began = time.monotonic()
    with chromium_page(allow=loopback_only, viewport=(1400, 900), timeout=60) as browser:
        page = browser.page
        # The auth manager's own login page, as a person signs in.
        page.goto(f"{cluster.api_url}/auth/login?next={cluster.api_url}/")
        page.fill('input[name="username"]', "viewer")
        page.fill('input[name="password"]', PASSWORDS["viewer"])
        page.click('button[type="submit"]')
        # The "Codex" entry of the UI's navigation (under Browse) shows the view in the UI's own frame.
        page.get_by_text("Browse", exact=True).first.click()
        page.get_by_role("menuitem", name="Codex").click()
        page.wait_for_url(lambda url: urlsplit(url).path.startswith("/plugin/codex"))
        view = page.frame_locator('iframe[title="Codex"]')
        view.locator("tr.dataset-row").first.wait_for(timeout=90_000)
        now = datetime.now(UTC)
        shown = {d: cells(view, DEST_CONN, d) for d in DATASETS}
        stored = cells(view, f"file://{deployment.lake}", "usage")
        text = view.locator("body").inner_text()
        html = view.locator("html").evaluate("e => e.outerHTML")
        if os.environ.get("CODEX_SCREENSHOTS") == "1":
            browser.screenshot(SCREENSHOT, full_page=False)
        # The governance report: linked on the page, followed in the UI's own frame.
        report_began = time.monotonic()
        no_report = view.locator("#no-report").count()
        with page.expect_response(lambda r: urlsplit(r.url).path == REPORT_URL_PATH) as answer:
            view.locator("a.report", has_text=DAG_ID).click()
        view.locator("figure.chart svg").first.wait_for()
        served = answer.value
        report_title = view.locator("head > title").text_content()
        charts = view.locator("figure.chart").evaluate_all(
            "fs => fs.map(f => [f.id, f.querySelectorAll('svg').length])"
        )
        report_body, report_headers = served.text(), served.all_headers()
        report_took = time.monotonic() - report_began
    assert not browser.blocked, browser.blocked

    days = shown_range(now)
    for dataset in DATASETS:
        first_table = get_dataset(dataset).tables[0].name
        held = days_held(deployment.destination, first_table, workspace)
        assert set(shown[dataset]) == set(days), dataset
        # Loaded: the days the load replaced (a quiet one too: the load recorded its zero), but those deleted.
        expected = set(deployment.loaded) - set(deployment.deleted)
        assert {d for d, s in shown[dataset].items() if s == "loaded"} == expected, dataset
        assert held <= expected and not held & set(deployment.deleted), dataset  # the deletion took
    assert {shown["usage"][d] for d in days if d not in deployment.loaded or d in deployment.deleted} == {"missing"}
    # Compliance: the API keeps 30 days; a missing day is lost past it and expiring within 7 days of it.
    compliance = shown["compliance_events"]
    assert compliance[days[0]] == "lost"
    assert "expiring" in compliance.values()
    assert all(compliance[d] in {"missing", "loaded"} for d in days[-LOADED_DAYS:])

    # The storage destination: its usage partitions, the deleted one missing.
    assert {d for d, s in stored.items() if s == "loaded"} == set(deployment.loaded) - set(deployment.deleted[:1])

    # The latest loads: both tasks, with the rows the destination held after the load.
    assert "load_usage" in text and "load_compliance_events" in text and "store_usage" in text
    for table in ("codex_usage_user_daily", "codex_compliance_events"):
        assert table in text and str(deployment.rows_loaded[table]) in text, table
    # Never a key, a salt or compliance content.
    sandbox = deployment.sandbox
    for secret in (sandbox.analytics_key, sandbox.compliance_key, SALT):
        assert secret not in html
    content = content_values(deployment.destination)
    assert content and not [v for v in content if v in html]

    # The report is the file the views task wrote, served as is, sandboxed, one chart per dashboard.
    (written,) = deployment.reports.rglob("*.html")
    assert no_report == 0 and served.status == 200
    assert report_body == written.read_text(encoding="utf-8")
    assert report_title is not None and report_title.startswith(f"Codex governance report: {workspace}, ")
    assert [chart for chart, svgs in charts if svgs == 1] == [f"chart-{board.name}" for board in DASHBOARDS]
    assert len(charts) == len(DASHBOARDS) == 9
    policy = report_headers["content-security-policy"].split("; ")
    assert policy[0] == "sandbox" and "default-src 'none'" in policy and "script-src" not in str(policy)
    assert report_headers["cache-control"] == "no-store"
    for secret in (sandbox.analytics_key, sandbox.compliance_key, SALT, *content):
        assert secret not in report_body
    print(
        f"\nview checks {time.monotonic() - began:.1f}s (the report {report_took:.1f}s);"
        f" deployment ready in {deployment.started_in:.1f}s"
    )


def test_no_credentials_bad_credentials_and_no_read_access_are_refused(deployment: Deployment) -> None:
    url = f"{deployment.cluster.api_url}/codex/"
    report = f"{deployment.cluster.api_url}{REPORT_URL_PATH}"
    for refused_url in (url, report):
        assert httpx.get(refused_url, timeout=30).status_code == 401
        assert httpx.get(refused_url, headers={"Authorization": "Bearer not-a-token"}, timeout=30).status_code == 403
    login = httpx.post(
        f"{deployment.cluster.api_url}/auth/token",
        json={"username": "outsider", "password": PASSWORDS["outsider"]},
        timeout=30,
    )
    login.raise_for_status()
    outsider = {"Authorization": f"Bearer {login.json()['access_token']}"}
    refused = httpx.get(url, headers=outsider, timeout=30)
    assert refused.status_code == 403, refused.text
    assert DAG_ID not in refused.text
    refused_report = httpx.get(report, headers=outsider, timeout=30)
    assert refused_report.status_code == 403, refused_report.text
    assert "<svg" not in refused_report.text
    # The same user's cookie, as the UI sends it, is refused the same way.
    cookie = httpx.get(url, cookies={"_token": login.json()["access_token"]}, timeout=30)
    assert cookie.status_code == 403
    # And the viewer's token opens it.
    viewer = deployment.cluster.login("viewer", PASSWORDS["viewer"])
    assert httpx.get(url, headers={"Authorization": f"Bearer {viewer}"}, timeout=60).status_code == 200
    assert httpx.get(report, headers={"Authorization": f"Bearer {viewer}"}, timeout=60).status_code == 200
