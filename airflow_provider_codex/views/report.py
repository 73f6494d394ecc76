"""The governance report: one self-contained HTML page with the nine dashboards as charts and the exports' headlines.

The page needs nothing from the network (the charts are inline SVG, the style
inline CSS) and holds counts only, read back with :func:`.read.read_view`.
A gap (a day whose figures are ``NULL``: nothing was loaded for it) has no
mark and a hatched band; a zero of a loaded day is a mark on the zero line.
Each chart's ``<figure>`` has the id ``chart-<view>`` and lists its gap days in
``data-gap-days``; each series' SVG group is ``chart-<view>--<series>``, one
marker (``<use>``) per day with a figure, so a browser can check the marks.

The charts are drawn by matplotlib (the ``report`` extra), imported only here
and only when a report is rendered: the views build without it.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from airflow.sdk import ObjectStoragePath
from jinja2 import Environment
from markupsafe import Markup

from airflow_provider_codex.sinks import SqlSink
from airflow_provider_codex.tables import ColumnType
from airflow_provider_codex.views.catalog import DASHBOARDS, EXPORTS, View
from airflow_provider_codex.views.exports import replace_files, window_file
from airflow_provider_codex.views.read import read_view

REPORT_NAME = "codex_governance_report"
DEFAULT_REPORT_DAYS = 90
MAX_REPORT_DAYS = 3660
INSTALL_HINT = "pip install 'airflow-provider-codex[report]'"
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_KEY_OF_ROW = ("workspace_id", "day")
NONE = "-"  # a figure with no value over the range


class ReportUnavailable(RuntimeError):
    """The charting library (the ``report`` extra) is not installed."""


@dataclass(frozen=True)
class Series:
    """One line of a chart: its SVG id, its legend label, its figure per day (``None``: no figure)."""

    id: str
    label: str
    values: Mapping[date, int | None]

    def days_with_data(self) -> list[date]:
        return sorted(d for d, v in self.values.items() if v is not None)


@dataclass(frozen=True)
class Chart:
    """One dashboard over the report's days; ``gap_days``: days on which no series has a figure."""

    id: str
    view: View
    series: tuple[Series, ...]
    gap_days: tuple[date, ...]


@dataclass(frozen=True)
class Headline:
    """One export's headline figures: a row per figure, ``(label, total, mean per day, peak, days with data)``."""

    id: str
    view: View
    rows: tuple[tuple[str, str, str, str, str], ...]
    note: str


def element_id(*parts: str) -> str:
    """An HTML/SVG id from names the database returned: anything but letters, digits, ``_`` and ``-`` is ``_``."""
    return "--".join(_ID_UNSAFE.sub("_", p) for p in parts)


def report_range(last_day: date, days: int | str = DEFAULT_REPORT_DAYS) -> tuple[date, date]:
    """The ``days`` days ending with ``last_day`` (both included)."""
    try:
        count = int(days)
    except (TypeError, ValueError):
        count = 0
    if not 1 <= count <= MAX_REPORT_DAYS:
        raise ValueError(f"report_days {days!r}: a whole number of days from 1 to {MAX_REPORT_DAYS}")
    return last_day - timedelta(days=count - 1), last_day


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _series_columns(view: View) -> tuple[list[str], list[str]]:
    """A view's extra key columns (a series per value) and its figure columns."""
    extra = [c for c in view.spec.key if c not in _KEY_OF_ROW]
    types = view.spec.types
    return extra, [c for c in view.export_columns if c not in view.spec.key and types[c] is ColumnType.INTEGER]


def chart_of(view: View, rows: Iterable[Mapping[str, Any]], days: Sequence[date]) -> Chart:
    """``view``'s rows as a chart: a series per figure column, or per value of its extra key (the products)."""
    chart_id = element_id(f"chart-{view.name}")
    extra, figures = _series_columns(view)
    values: dict[str, dict[date, int | None]] = {}
    for row in rows:
        if extra:
            values.setdefault(str(row[extra[0]]), {})[row["day"]] = row[figures[0]]
        else:
            for column in figures:
                values.setdefault(column, {})[row["day"]] = row[column]
    names = figures if not extra else sorted(values, key=lambda name: (name == "all", name))
    series = tuple(
        Series(element_id(chart_id, name), name, {d: values.get(name, {}).get(d) for d in days}) for name in names
    )
    gaps = tuple(d for d in days if all(s.values[d] is None for s in series))
    return Chart(chart_id, view, series, gaps)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def headline_of(view: View, rows: Sequence[Mapping[str, Any]], days: Sequence[date]) -> Headline:
    """An export's figures over the days: total, mean per day with a figure, peak day, days with a figure.

    Per-user rows are added up per day first. A user count is distinct per
    day, so its days do not add up: it has no total. Only counts: no user id
    or email reaches the page.
    """
    _, figures = _series_columns(view)
    docs = {c.name: c.doc for c in view.spec.columns}
    out = []
    for column in figures:
        by_day: dict[date, int] = {}
        for row in rows:
            if row.get(column) is not None:
                by_day[row["day"]] = by_day.get(row["day"], 0) + int(row[column])
        if not by_day:
            out.append((column, NONE, NONE, NONE, "0"))
            continue
        total = sum(by_day.values())
        additive = not docs[column].startswith("distinct")
        peak = _number(max(by_day.values()))
        out.append((column, _number(total) if additive else NONE, _number(total / len(by_day)), peak, str(len(by_day))))
    if view.spec.key[2:]:
        users = len({row[view.spec.key[2]] for row in rows})
        note = f"{users:,} distinct users active over the {len(days)} days; the rows per user are in the export files."
    else:
        with_figure = {row["day"] for row in rows if any(row.get(c) is not None for c in figures)}
        note = f"{len(days) - len(with_figure)} of {len(days)} days are gaps (no figure)."
    return Headline(element_id(f"headline-{view.name}"), view, tuple(out), note)


def gap_runs(days: Sequence[date]) -> list[tuple[date, date]]:
    """Consecutive days as ``(first, last)`` runs."""
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _matplotlib() -> Any:
    try:
        import matplotlib  # the optional extra, only when a report is rendered
    except ImportError as missing:
        message = f"the report needs matplotlib: {INSTALL_HINT} (or leave report_path unset)"
        raise ReportUnavailable(message) from missing
    return matplotlib


def chart_svg(chart: Chart, days: Sequence[date]) -> str:
    """The chart as an ``<svg>`` element: a line with a marker per day that has a figure, gaps as hatched bands."""
    matplotlib = _matplotlib()
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rc = {"svg.fonttype": "none", "svg.hashsalt": chart.id, "svg.id": f"{chart.id}-svg", "text.parse_math": False}
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(8.6, 2.5))
        fig.subplots_adjust(left=0.06, right=0.83, top=0.95, bottom=0.13)  # fixed: a layout engine draws twice
        ax = fig.add_subplot()
        xs = list(range(len(days)))  # day i of the range
        peak = 0
        for series in chart.series:
            ys = [math.nan if series.values[d] is None else float(series.values[d] or 0) for d in days]
            peak = max([peak, *(int(y) for y in ys if not math.isnan(y))])
            ax.plot(xs, ys, marker="o", markersize=3.2, linewidth=1.3, label=series.label, gid=series.id)
        handles, _ = ax.get_legend_handles_labels()
        for first, last in gap_runs(chart.gap_days):
            ax.axvspan(
                (first - days[0]).days - 0.5,
                (last - days[0]).days + 0.5,
                facecolor="#e4e4e4",
                edgecolor="#a8a8a8",
                hatch="////",
                linewidth=0,
                gid=element_id(chart.id, "gap", first.isoformat()),
            )
        if chart.gap_days:
            handles.append(Patch(facecolor="#e4e4e4", edgecolor="#a8a8a8", hatch="////", label="gap: no data"))
        ax.set_xlim(xs[0] - 0.6, xs[-1] + 0.6)
        ax.set_ylim(-0.04 * max(peak, 1), max(peak, 1) * 1.08)
        step = max(1, math.ceil(len(days) / 8))
        ax.set_xticks(xs[::step], [f"{d:%b %d}" for d in days[::step]])
        ax.grid(axis="y", color="#ececec", linewidth=0.8)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=8)
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    return _METADATA.sub("", text[text.index("<svg") :])  # the prologue and the RDF credits: bytes, not content


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Codex governance report: {{ workspace_id }}, {{ first }} to {{ last }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;color:#1d1d1f;max-width:68rem;margin:1.5rem auto;padding:0 1rem}
h1{font-size:1.5rem;margin:0 0 .3rem}h2{font-size:1.15rem;margin:2rem 0 .6rem;border-bottom:1px solid #ddd}
h3{font-size:1rem;margin:0}figure{margin:0 0 1.6rem}figcaption p{margin:.15rem 0;color:#555}
svg{max-width:100%;height:auto}table{border-collapse:collapse;margin:.3rem 0 .2rem}
td,th{padding:.15rem .7rem;text-align:right;border-bottom:1px solid #eee}td:first-child,th:first-child{text-align:left}
.swatch{display:inline-block;width:1.6em;height:.9em;vertical-align:middle;border:1px solid #a8a8a8;
background:repeating-linear-gradient(45deg,#e4e4e4 0 3px,#a8a8a8 3px 4px)}
.gaps{color:#8a4b00}.note{color:#555;margin:0 0 1rem}code{font-size:.95em}
</style>
</head>
<body>
<header>
<h1>Codex governance report</h1>
<p>Workspace <code>{{ workspace_id }}</code>: {{ first }} to {{ last }} ({{ days|length }} UTC days),
built {{ built_at }}.</p>
<p id="key"><span class="swatch"></span> A hatched band is a <strong>gap</strong>: the views hold no figure for
the day (it was not loaded, or the views were not built for it), so it has no mark. A mark on the zero
line is a <strong>zero</strong>: the day was loaded and had none. Days of the range:
<span id="days-with-data">{{ days_with_data }}</span> with data in some dashboard,
<span id="gap-day-count">{{ all_gaps|length }}</span> gaps in every dashboard{% if all_gaps %}
({{ all_gaps_text }}){% endif %}.</p>
</header>
<section id="dashboards">
<h2>Dashboards</h2>
{% for c in charts %}
<figure class="chart" id="{{ c.chart.id }}" data-view="{{ c.chart.view.name }}"
 data-gap-days="{{ c.gap_days }}">
<figcaption>
<h3>{{ c.chart.view.spec.doc }}</h3>
<p>{{ c.chart.view.definition }}. Table <code>{{ c.chart.view.name }}</code>, from
{{ c.chart.view.sources|join(', ') }}.</p>
<p class="gaps">{% if c.gaps %}Gaps (no data): {{ c.gaps }}.{% else %}No gaps.{% endif %}</p>
</figcaption>
{{ c.svg }}
</figure>
{% endfor %}
</section>
<section id="headlines">
<h2>Exports: headline figures</h2>
{% for h in headlines %}
<h3>{{ h.view.spec.doc }}</h3>
<table id="{{ h.id }}">
<tr><th>figure</th><th>total</th><th>per day</th><th>peak day</th><th>days with data</th></tr>
{% for row in h.rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</table>
<p class="note">{{ h.note }}</p>
{% endfor %}
</section>
</body>
</html>
"""


def _runs_text(days: Sequence[date]) -> str:
    return ", ".join(f"{a}" if a == b else f"{a} to {b}" for a, b in gap_runs(days))


def render_report(
    sink: SqlSink, workspace_id: str, first: date, last: date, *, built_at: datetime | None = None
) -> str:
    """The report of ``workspace_id`` from ``first`` to ``last`` (both included), as one HTML page."""
    days = days_between(first, last)
    charts = [chart_of(v, read_view(sink, v.name, workspace_id, first, last), days) for v in DASHBOARDS]
    svgs = [Markup(chart_svg(chart, days)) for chart in charts]  # noqa: S704 (matplotlib writes escaped SVG)
    headlines = [headline_of(v, read_view(sink, v.name, workspace_id, first, last), days) for v in EXPORTS]
    all_gaps = [d for d in days if all(d in c.gap_days for c in charts)]
    with_data = sum(1 for d in days if any(d not in c.gap_days for c in charts))
    env = Environment(autoescape=True, keep_trailing_newline=True)
    return env.from_string(_PAGE).render(
        workspace_id=workspace_id,
        first=first.isoformat(),
        last=last.isoformat(),
        days=days,
        built_at=(built_at or datetime.now().astimezone()).strftime("%Y-%m-%d %H:%M %Z"),
        days_with_data=with_data,
        all_gaps=all_gaps,
        all_gaps_text=_runs_text(all_gaps),
        headlines=headlines,
        charts=[
            {"chart": c, "svg": svg, "gaps": _runs_text(c.gap_days), "gap_days": " ".join(map(str, c.gap_days))}
            for c, svg in zip(charts, svgs, strict=True)
        ],
    )


def report_path(base: ObjectStoragePath | str, workspace_id: str, first: date, last: date) -> ObjectStoragePath:
    """``<base>/codex_governance_report/workspace_id=<id>/<first>_<last>.html``, beside the exports' folders."""
    root = base if isinstance(base, ObjectStoragePath) else ObjectStoragePath(base)
    return window_file(root, REPORT_NAME, workspace_id, first, last, "html")


def write_report(
    base: ObjectStoragePath | str,
    sink: SqlSink,
    workspace_id: str,
    first: date,
    last: date,
    *,
    built_at: datetime | None = None,
) -> ObjectStoragePath:
    """Render the report and put it in place atomically (a reader sees the previous page or the new one)."""
    html = render_report(sink, workspace_id, first, last, built_at=built_at)
    (written,) = replace_files([(report_path(base, workspace_id, first, last), html.encode("utf-8"))])
    return written
