"""Governance views: the Codex console's nine dashboards and five exports, rebuilt from the loaded tables.

Nothing in ``api``, ``tables``, ``sinks`` or ``load`` imports this package: it
only reads what the sinks wrote (``SqlSink``), and writes its own tables
through the same sink, days replaced in one transaction.

* :mod:`.products`: which ``client_id`` surfaces make which product (one registry);
* :mod:`.facts`: the window's figures, by portable SQL;
* :mod:`.loaded`: which days were loaded (a missing day is a zero there, a gap elsewhere);
* :mod:`.catalog`: the views, their tables and columns;
* :mod:`.build`: the rebuild of a window's days; :mod:`.exports`: the files;
* :mod:`.read`: a view's rows back, for what shows them; :mod:`.report`: the HTML report
  (its charts need the ``report`` extra, imported only when one is rendered).
"""

from __future__ import annotations

from airflow_provider_codex.views.build import BuiltViews, build_views
from airflow_provider_codex.views.catalog import DASHBOARDS, EXPORTS, VIEWS, VIEWS_BY_NAME, View
from airflow_provider_codex.views.exports import FORMATS, export_path, write_exports
from airflow_provider_codex.views.loaded import LOADED_DAYS, VIEW_DATASETS, days_from_asset_events
from airflow_provider_codex.views.products import ALL, DEFAULT_PRODUCTS, OTHER, Product, ProductRegistry
from airflow_provider_codex.views.read import read_view
from airflow_provider_codex.views.report import REPORT_NAME, ReportUnavailable, render_report, write_report

__all__ = [
    "ALL",
    "DASHBOARDS",
    "DEFAULT_PRODUCTS",
    "EXPORTS",
    "FORMATS",
    "LOADED_DAYS",
    "OTHER",
    "REPORT_NAME",
    "VIEWS",
    "VIEWS_BY_NAME",
    "VIEW_DATASETS",
    "BuiltViews",
    "Product",
    "ProductRegistry",
    "ReportUnavailable",
    "View",
    "build_views",
    "days_from_asset_events",
    "export_path",
    "read_view",
    "render_report",
    "write_exports",
    "write_report",
]
