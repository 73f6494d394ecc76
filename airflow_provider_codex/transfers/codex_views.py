"""The governance views in Airflow: rebuild a window's days of the views, write the exports and the report,
emit an event per view.

All the work is :func:`~airflow_provider_codex.views.build_views`,
:func:`~airflow_provider_codex.views.write_exports` and
:func:`~airflow_provider_codex.views.write_report`; this operator resolves
the window (templated ``start``/``end``/``lookback_days`` as the loads have
them; in a run the loads' Asset events triggered, the days those loads
covered; else the run's data interval), finds the workspace (the ``codex`` connection's,
like the loads), reads which days the triggering loads replaced from their
Asset events, and reports one Asset event per view table; its return value
(XCom) names the export files and the report's path (``"report"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_codex.hooks.codex import CodexHook
from airflow_provider_codex.sinks import SqlSink
from airflow_provider_codex.transfers.base import declared_outlets, table_asset
from airflow_provider_codex.transfers.lineage import LineageMixin, Place, Written, views_lineage
from airflow_provider_codex.views import (
    DEFAULT_PRODUCTS,
    FORMATS,
    VIEWS,
    BuiltViews,
    ProductRegistry,
    build_views,
    days_from_asset_events,
    write_exports,
)
from airflow_provider_codex.views.loaded import EVIDENCE_TABLES
from airflow_provider_codex.views.report import DEFAULT_REPORT_DAYS, ReportUnavailable, report_range, write_report
from airflow_provider_codex.windows import Window, WindowError, lookback_days_from, window_from_context


def view_assets(table_prefix: str = "") -> list[Any]:
    """The Assets the views operator updates, one per view table."""
    return [table_asset(f"{table_prefix}{view.name}") for view in VIEWS]


#: The most recent Asset events read per inlet table (each names a load's days): bounds the request.
INLET_EVENTS_READ = 1000


def source_assets(table_prefix: str = "") -> list[Any]:
    """The inlets: one table per dataset the views read, whose loads' Asset events say which days they covered."""
    return [table_asset(f"{table_prefix}{table}") for table in EVIDENCE_TABLES.values()]


def inlet_extras(
    context: Mapping[str, Any], inlets: Iterable[Any], destination: Mapping[str, Any]
) -> list[Mapping[str, Any]]:
    """The ``extra`` of the latest :data:`INLET_EVENTS_READ` Asset events of each inlet whose load wrote to
    ``destination`` (an Asset names a table, not where it is); none outside a task."""
    accessors = context.get("inlet_events")
    if accessors is None:
        return []
    extras: list[Mapping[str, Any]] = []
    for asset in inlets:
        for event in accessors[asset].ascending(False).limit(INLET_EVENTS_READ):
            extra = getattr(event, "extra", None)
            if isinstance(extra, Mapping) and extra.get("destination") == dict(destination):
                extras.append(extra)
    return extras


def triggering_extras(context: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``extra`` of every Asset event that triggered the run (none for a manual or scheduled run)."""
    events = context.get("triggering_asset_events") or {}
    extras: list[Mapping[str, Any]] = []
    for batch in events.values():
        for event in batch:
            extra = getattr(event, "extra", None)
            if isinstance(extra, Mapping):
                extras.append(extra)
    return extras


def window_of_events(extras: Iterable[Mapping[str, Any]]) -> Window | None:
    """The days the triggering loads covered, first to last (``None`` when no event says).

    An Asset-triggered run has no data interval of its own: it rebuilds what
    the loads that triggered it replaced (a backfill's runs included).
    """
    starts, ends = [], []
    for extra in extras:
        if extra.get("start") and extra.get("end"):
            starts.append(date.fromisoformat(str(extra["start"])))
            ends.append(date.fromisoformat(str(extra["end"])))
    if not starts:
        return None
    return Window.of_days(min(starts), max(ends) - timedelta(days=1))


class CodexGovernanceViewsOperator(LineageMixin, BaseOperator):
    """Rebuild the Codex dashboards and exports for a window, in the database the loads wrote.

    Every view table's days of the window are replaced in one transaction (a
    rerun or a backfill replaces, never doubles). Its inlets are one table per dataset the
    views read: their loads' Asset events (the latest 1,000 of each, and those that triggered
    the run) say which days the loads covered, so a quiet day a load covered is a zero even in
    a run no load triggered (a rebuild by hand). With ``export_path`` the
    five exports are written there as CSV and JSON Lines, replaced atomically.

    :param sql_conn_id: the connection the loads wrote to (templated).
    :param schema: the schema (MySQL: database) of the tables, as the loads had it.
    :param table_prefix: the loads' table prefix; the views get it too.
    :param start: first day (templated); with ``end``, overrides the run's data interval. Without
        both, a run triggered by the loads' Asset events rebuilds the days those loads covered
        (first to last), else the run's data interval as the loads have it.
    :param end: day after the last day (exclusive, templated).
    :param lookback_days: also rebuild this many days before the window.
    :param workspace_id: the workspace; default the ``codex_conn_id`` connection's.
    :param codex_conn_id: the ``codex`` connection the loads used (read for its workspace only).
    :param products: override products of the registry, ``{"cli": ["CODEX_CLI", "CODEX_EXEC"],
        "ide": ["CODEX_IDE_*"], "vscode": [...]}`` (a trailing ``*`` is a prefix), or a whole
        :class:`~airflow_provider_codex.views.ProductRegistry`.
    :param export_path: where the exports go (an ``ObjectStoragePath`` URL, templated); ``None``: no files.
    :param export_formats: ``csv`` and/or ``jsonl``.
    :param report_path: where the HTML report goes (an ``ObjectStoragePath`` URL, templated; the exports'
        folder is a good place): ``<report_path>/codex_governance_report/workspace_id=<id>/<first>_<last>.html``,
        replaced atomically. ``None``: no report. It needs the ``report`` extra
        (``pip install 'airflow-provider-codex[report]'``); without it the task builds the views, writes the
        exports, then fails, saying so.
    :param report_days: the report's range, in days ending with the window's last day (templated, default 90).
    """

    template_fields: Sequence[str] = (
        "sql_conn_id",
        "schema",
        "start",
        "end",
        "lookback_days",
        "workspace_id",
        "export_path",
        "report_path",
        "report_days",
    )
    ui_color = "#eef0fb"

    @classmethod
    def outlets_for(cls, arguments: Mapping[str, Any]) -> list[Any]:
        """``arguments["outlets"]`` and the Asset of every view, each once."""
        return declared_outlets(arguments, view_assets(arguments.get("table_prefix") or ""))

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """``BaseOperator.partial``, with the views' Assets as outlets (a mapped task takes them from here)."""
        kwargs["outlets"] = cls.outlets_for(kwargs)
        return super().partial(**kwargs)

    def __init__(
        self,
        *,
        sql_conn_id: str,
        schema: str | None = None,
        table_prefix: str = "",
        start: str | datetime | date | None = None,
        end: str | datetime | date | None = None,
        lookback_days: int | str = 0,
        workspace_id: str | None = None,
        codex_conn_id: str = CodexHook.default_conn_name,
        products: Mapping[str, Sequence[str]] | ProductRegistry | None = None,
        export_path: str | None = None,
        export_formats: Sequence[str] = FORMATS,
        report_path: str | None = None,
        report_days: int | str = DEFAULT_REPORT_DAYS,
        **kwargs: Any,
    ) -> None:
        kwargs["outlets"] = self.outlets_for({**kwargs, "table_prefix": table_prefix})
        inlets = list(kwargs.get("inlets") or [])
        kwargs["inlets"] = inlets + [asset for asset in source_assets(table_prefix) if asset not in inlets]
        super().__init__(**kwargs)
        self.sql_conn_id = sql_conn_id
        self.schema = schema
        self.table_prefix = table_prefix
        self.start = start
        self.end = end
        self.lookback_days = lookback_days
        self.workspace_id = workspace_id
        self.codex_conn_id = codex_conn_id
        self.registry = products if isinstance(products, ProductRegistry) else DEFAULT_PRODUCTS.overridden(products)
        self.export_path = export_path
        bad = sorted(set(export_formats) - set(FORMATS))
        if bad or not export_formats:
            raise ValueError(f"export_formats {bad or list(export_formats)}: choose among {list(FORMATS)}")
        self.export_formats = tuple(export_formats)
        self.report_path = report_path
        self.report_days = report_days

    def execute(self, context: Any) -> dict[str, Any]:
        extras = triggering_extras(context)
        start, end = self.start or None, self.end or None  # a template that rendered empty: not given
        try:
            lookback_days = lookback_days_from(self.lookback_days)
            events_window = window_of_events(extras) if start is None and end is None else None
            if events_window is not None:
                window = events_window.widened(lookback_days) if lookback_days else events_window
            else:
                window = window_from_context(context, start=start, end=end, lookback_days=lookback_days)
        except WindowError as bad:
            raise AirflowFailException(f"WindowError: {bad}") from bad
        workspace_id = self.workspace_id or CodexHook(self.codex_conn_id).config.workspace_id
        if not workspace_id:
            raise AirflowFailException(
                f"connection {self.codex_conn_id!r} has no workspace_id (the analytics tables are per workspace): "
                "pass workspace_id to the views operator"
            )
        destination = {"sql_conn_id": self.sql_conn_id, "schema": self.schema}
        from_inlets = inlet_extras(context, source_assets(self.table_prefix), destination)
        loaded = days_from_asset_events([*extras, *from_inlets])
        sink = SqlSink.from_conn_id(self.sql_conn_id, schema=self.schema, table_prefix=self.table_prefix)
        self.log.info("Building the governance views of %s for %s", workspace_id, window)
        built = build_views(sink, workspace_id, window, registry=self.registry, loaded=loaded)
        files = []
        if self.export_path:
            written = write_exports(self.export_path, workspace_id, window, built.rows, self.export_formats)
            files = [str(path) for path in written]
            self.log.info("Wrote %d export files under %s", len(files), self.export_path)
        self.emit_asset_events(context, built, files)
        report = self.write_report(sink, workspace_id, window) if self.report_path else None
        self.lineage_result = result = {
            "workspace_id": workspace_id,
            "start": window.start.date().isoformat(),
            "end": window.end.date().isoformat(),
            "views": {name: len(rows) for name, rows in built.rows.items()},
            "loaded_days": {name: sorted(d.isoformat() for d in days) for name, days in built.loaded.items()},
            "files": files,
            "report": report,
        }
        return result

    def lineage(self, result: Mapping[str, Any] | None) -> tuple[list[Place], list[Written]]:
        sink = SqlSink.from_conn_id(self.sql_conn_id, schema=self.schema, table_prefix=self.table_prefix)
        return views_lineage(sink, self.export_path or None, result)

    def write_report(self, sink: SqlSink, workspace_id: str, window: Window) -> str:
        """Render the report of the ``report_days`` ending with the window's last day; its path."""
        try:
            first, last = report_range(window.days[-1], self.report_days)
        except ValueError as bad:
            raise AirflowFailException(str(bad)) from bad
        try:
            path = write_report(str(self.report_path), sink, workspace_id, first, last)
        except ReportUnavailable as missing:
            raise AirflowFailException(f"report_path is set but {missing}") from missing
        self.log.info("Wrote the governance report of %s to %s..%s: %s", workspace_id, first, last, path)
        return str(path)

    def emit_asset_events(self, context: Any, built: BuiltViews, files: Iterable[str]) -> None:
        events = context.get("outlet_events")
        if events is None:
            return
        files = list(files)
        for name, rows in built.rows.items():
            table = f"{self.table_prefix}{name}"
            events[table_asset(table)].extra = {
                "view": name,
                "table": table,
                "destination": {"sql_conn_id": self.sql_conn_id, "schema": self.schema},
                "workspace_id": built.workspace_id,
                "start": built.window.start.date().isoformat(),
                "end": built.window.end.date().isoformat(),
                "rows": len(rows),
                "files": [f for f in files if f"/{name}/" in f],
            }
