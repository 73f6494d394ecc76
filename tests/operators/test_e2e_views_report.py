"""The governance report in Debian's headless Chromium: sandbox → the real load operators → SQLite → the views
operator in a real task (``dag.test``, ``report_path`` templated) → the page, opened from ``file://`` offline.

The expected marks are computed here from what the sandbox served (``test_e2e_views.Served``, not the SQL
under test): every series has one marker per day whose figure is known, at that day's place on the axis;
a gap day (never loaded, or never built) has none and lies under a hatched band the page lists. The days:
two loads, 2026-01-20..01-31 and 02-05..02-12, with 02-09 and 02-10 quiet (zeros: the loads' Asset events,
the views task's inlets, say they were covered); the views built by hand (no triggering event) for
01-20..02-12 (02-01..02-04 built but not loaded: NULL); the report's 28 days start 01-16 (never built).

``CODEX_SCREENSHOTS=<folder>`` also saves the page as ``<folder>/governance-report.png``
(``scripts/screenshots`` regenerates ``docs/images/governance-report.png`` with it).
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from codex_e2e import days_of
from codex_testing.browser import chromium_page
from codex_testing.sandbox import RunningSandbox
from test_e2e_views import Served, load

from airflow_provider_codex.tables import ColumnType
from airflow_provider_codex.views import DASHBOARDS, EXPORTS, REPORT_NAME

LOADS = ((date(2026, 1, 20), date(2026, 2, 1)), (date(2026, 2, 5), date(2026, 2, 13)))
BUILT = (date(2026, 1, 20), date(2026, 2, 13))
REPORT_DAYS = 28
FIRST, LAST = BUILT[1] - timedelta(days=REPORT_DAYS), BUILT[1] - timedelta(days=1)
MAX_PAGE_BYTES = 1_500_000

#: Per chart: its gap days, its gap bands' x extents, and each series' marker x positions, read in the page.
READ_CHARTS = """() => Array.from(document.querySelectorAll('figure.chart')).map(fig => ({
  id: fig.id,
  gapDays: fig.dataset.gapDays,
  width: fig.querySelector('svg').getBoundingClientRect().width,
  bands: Array.from(fig.querySelectorAll('svg g[id*="--gap--"]')).map(g => {
    const box = g.getBBox(); return [box.x, box.x + box.width];
  }),
  series: Object.fromEntries(Array.from(fig.querySelectorAll('svg g[id^="' + fig.id + '--"]'))
    .filter(g => !g.id.includes('--gap--'))
    .map(g => [g.id, Array.from(g.querySelectorAll('use')).map(u => u.x.baseVal.value)])),
}))"""


#: Per export headline table: its rows of cells (figure, total, per day, peak day, days with data).
READ_HEADLINES = """() => Object.fromEntries(Array.from(document.querySelectorAll('#headlines table')).map(t =>
  [t.id, Array.from(t.querySelectorAll('tr')).slice(1).map(r => Array.from(r.cells).map(c => c.textContent))]))"""


def expected_headlines(served: Served, days: list[date]) -> dict[str, list[tuple[str, int | None, int, int]]]:
    """Per export table id: per figure, (name, total or None for distinct users, peak day, days with data)."""
    out: dict[str, list[tuple[str, int | None, int, int]]] = {}
    for view in EXPORTS:
        figures = [c for c in view.export_columns if view.spec.types[c] is ColumnType.INTEGER]
        rows = []
        for column in figures:
            if view.name == "codex_export_sessions_and_messages_per_user":
                at = {"sessions": 1, "messages": 2}[column]
                per_user = [served.sessions(d) for d in days]
                by_day = [sum(u[at] for u in users.values()) if users else None for users in per_user]
            else:
                by_day = [served.daily(d).get(f"{view.name}.{column}") for d in days]
            known = [v for v in by_day if v is not None]
            total = None if column.endswith("users") else sum(known)
            rows.append((column, total, max(known), len(known)))
        out[f"headline-{view.name}"] = rows
    return out


def expected_series(served: Served, days: list[date]) -> dict[str, dict[str, list[int]]]:
    """Per chart id, per series id: the indexes (in ``days``) of the days whose figure the sandbox served."""
    out: dict[str, dict[str, list[int]]] = {}
    figures = [served.daily(day) for day in days]
    for view in DASHBOARDS:
        chart = f"chart-{view.name}"
        keys = sorted({k.split(".", 1)[1] for f in figures for k in f if k.startswith(f"{view.name}.")})
        out[chart] = {
            f"{chart}--{key}": [i for i, f in enumerate(figures) if f.get(f"{view.name}.{key}") is not None]
            for key in keys
        }
    return out


def check_positions(chart: dict[str, Any], want: dict[str, list[int]], gap_runs: list[tuple[int, int]]) -> None:
    """Markers sit at their days (one affine axis for the chart), no marker under a band, bands on the gap days."""
    points = sorted({(i, x) for sid, xs in chart["series"].items() for i, x in zip(want[sid], sorted(xs), strict=True)})
    (i0, x0), (i1, x1) = points[0], points[-1]
    assert i1 > i0, f"{chart['id']}: marks on one day only"
    step = (x1 - x0) / (i1 - i0)
    for i, x in points:
        assert abs(x0 + (i - i0) * step - x) < 0.6, f"{chart['id']}: a mark at x={x} is not day {i}'s place"
    bands = sorted(chart["bands"])
    assert len(bands) == len(gap_runs), f"{chart['id']}: {len(bands)} gap bands for the gap runs {gap_runs}"
    for (left, right), (first, last) in zip(bands, gap_runs, strict=True):
        assert abs(left - (x0 + (first - 0.5 - i0) * step)) < 1 and abs(right - (x0 + (last + 0.5 - i0) * step)) < 1
        marks_under = [x for xs in chart["series"].values() for x in xs if left < x < right]
        assert not marks_under, f"{chart['id']}: marks under the gap band {left}..{right}"


def runs_of(indexes: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for i in indexes:
        runs = [*runs[:-1], (runs[-1][0], i)] if runs and runs[-1][1] == i - 1 else [*runs, (i, i)]
    return runs


@pytest.mark.timeout(600)
def test_the_report_draws_every_dashboards_marks_in_chromium_offline(
    make_destination, sandbox: RunningSandbox, use_sandbox, test_dags, tmp_path: Path
) -> None:
    use_sandbox(sandbox)
    dest = make_destination("sqlite")
    exports = tmp_path / "exports"
    exports.mkdir()
    events = [extra for window in LOADS for extra in load(test_dags, dest, window)]
    loaded = {day for window in LOADS for day in days_of(*window)}
    assert {e["dataset"] for e in events} == {"usage", "code_reviews", "code_review_responses"}
    # a run no load triggered (by hand): the loads' Asset events, read as the task's inlets, say which days
    # they covered, so the quiet days 02-09 and 02-10 are zeros, not gaps
    conf = {
        "start": BUILT[0].isoformat(),
        "end": BUILT[1].isoformat(),
        "sql_conn_id": dest.conn_id,
        "path": f"file://{exports}",
        "report_path": f"file://{exports}",
        "report_days": REPORT_DAYS,
    }
    dag_run = test_dags["build_sql_views"].test(run_conf=conf)
    assert str(dag_run.state) == "success"
    (ti,) = dag_run.get_task_instances()
    report = ti.xcom_pull(task_ids="views")["report"]
    folder = exports / REPORT_NAME / f"workspace_id={sandbox.workspace_id}"
    page_file = folder / f"{FIRST.isoformat()}_{LAST.isoformat()}.html"
    assert report == f"file://{page_file}"
    assert [p.name for p in folder.iterdir()] == [page_file.name], "one page, no temporary object left"

    html = page_file.read_text()
    size = len(html.encode())
    print(f"report: {size:,} bytes for {len(DASHBOARDS)} charts over {REPORT_DAYS} days")
    assert size < MAX_PAGE_BYTES
    served = Served(sandbox, loaded)
    secrets = {sandbox.analytics_key, sandbox.compliance_key, "sandbox-salt"}
    for day in days_of(FIRST, LAST + timedelta(days=1)):
        for row in sandbox.data.usage_rows(day):
            actor = row.get("actor") or {}
            secrets |= {v for v in (row.get("user_id"), actor.get("user_id"), actor.get("email")) if v}
    assert not [s for s in secrets if s in html], "a key, salt, user id or email on the page"

    days = days_of(FIRST, LAST + timedelta(days=1))
    want = expected_series(served, days)
    assert any(served.daily(day).get("codex_view_cli_users.users") == 0 for day in days), "no zero day to draw"
    with chromium_page(viewport=(1280, 900)) as browser:
        browser.page.goto(page_file.as_uri())
        charts = {c["id"]: c for c in browser.page.evaluate(READ_CHARTS)}
        gap_count = browser.page.inner_text("#gap-day-count")
        headlines = browser.page.evaluate(READ_HEADLINES)
        if os.environ.get("CODEX_SCREENSHOTS"):
            browser.screenshot(Path(os.environ["CODEX_SCREENSHOTS"]) / "governance-report.png")
    assert browser.blocked == [], f"the page asked the network for {browser.blocked}"
    assert browser.requested == [page_file.as_uri()], browser.requested
    assert sorted(charts) == sorted(want), "one chart per dashboard"
    for chart_id, series in want.items():
        chart = charts[chart_id]
        assert chart["width"] > 300, f"{chart_id} not laid out"
        assert sorted(chart["series"]) == sorted(series)
        for sid, indexes in series.items():
            assert len(chart["series"][sid]) == len(indexes), f"{sid}: marks for {len(indexes)} days with data"
        gaps = [i for i in range(len(days)) if all(i not in idx for idx in series.values())]
        assert chart["gapDays"].split() == [days[i].isoformat() for i in gaps]
        check_positions(chart, series, runs_of(gaps))
    for table, rows in expected_headlines(served, days).items():
        shown = [
            (n, None if t == "-" else int(t.replace(",", "")), int(p.replace(",", "")), int(k))
            for n, t, _, p, k in headlines[table]
        ]
        assert shown == rows, f"{table}: shown {shown}, served {rows}"
    every_chart_gap = [d for i, d in enumerate(days) if all(i not in idx for s in want.values() for idx in s.values())]
    assert int(gap_count) == len(every_chart_gap) == 4 + 4  # 01-16..01-19 never built, 02-01..02-04 not loaded
