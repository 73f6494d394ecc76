"""The products registry, the loaded days read from Asset events, and the export files' format: no database."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

import pytest

from airflow_provider_codex.transfers.codex_views import CodexGovernanceViewsOperator, window_of_events
from airflow_provider_codex.views import DEFAULT_PRODUCTS, EXPORTS, OTHER, VIEWS, days_from_asset_events
from airflow_provider_codex.views.exports import csv_bytes, jsonl_bytes
from airflow_provider_codex.windows import Window


@pytest.mark.parametrize(
    ("client_id", "product"),
    [
        ("CODEX_CLI", "cli"),
        ("CODEX_EXEC", "cli"),
        ("CODEX_IDE_VSCODE", "ide"),
        ("CODEX_IDE_JETBRAINS_PYCHARM", "ide"),
        ("CODEX_IDE_JETBRAINS_RUSTROVER", "ide"),  # a JetBrains IDE nobody listed yet
        ("CODEX_WEB", "cloud"),
        ("CODEX_MOBILE_ANDROID", "cloud"),
        ("CODEX_GITHUB", "code_review"),
        ("CODEX_SLACK", "integrations"),
        ("CODEX_LINEAR", "integrations"),
        ("CODEX_SDK", OTHER),
        ("CODEX_UNKNOWN_DEFAULT", OTHER),
        ("CODEX_FUTURE_SURFACE", OTHER),
        (None, OTHER),
    ],
)
def test_every_surface_has_one_product_and_unknown_ones_are_other(client_id: str | None, product: str) -> None:
    assert DEFAULT_PRODUCTS.product_of(client_id) == product


def test_overrides_replace_or_add_products_and_the_vscode_surfaces() -> None:
    registry = DEFAULT_PRODUCTS.overridden(
        {"cli": ["CODEX_CLI"], "sdk": ["CODEX_SDK"], "vscode": ["CODEX_IDE_VSCODE", "CODEX_IDE_CURSOR"]}
    )
    assert registry.product_of("CODEX_EXEC") == OTHER
    assert registry.product_of("CODEX_SDK") == "sdk"
    assert registry.names[-2:] == ("sdk", OTHER)
    assert registry.vscode.matches("CODEX_IDE_CURSOR")
    assert registry.classify(["CODEX_SDK", "CODEX_CLI", "CODEX_X"]) == {
        "cli": ("CODEX_CLI",),
        "sdk": ("CODEX_SDK",),
        OTHER: ("CODEX_X",),
    }
    with pytest.raises(ValueError, match="reserved"):
        DEFAULT_PRODUCTS.overridden({"all": ["CODEX_CLI"]})
    with pytest.raises(ValueError, match="not a client_id"):
        DEFAULT_PRODUCTS.overridden({"cli": ["CODEX CLI'; DROP"]})
    operator = CodexGovernanceViewsOperator(task_id="v", sql_conn_id="x", products={"cli": ["CODEX_CLI"]})
    assert operator.registry.product_of("CODEX_EXEC") == OTHER


def test_loaded_days_and_the_window_come_from_the_loads_events() -> None:
    extras = [
        {"dataset": "usage", "start": "2026-02-09", "end": "2026-02-11", "rows_per_day": {"2026-02-09": 0}},
        {"dataset": "code_reviews", "start": "2026-02-10", "end": "2026-02-12"},
        {"dataset": "compliance_events", "start": "2026-01-01", "end": "2026-01-02"},
    ]
    assert days_from_asset_events(extras) == {
        "usage": {date(2026, 2, 9)},
        "code_reviews": {date(2026, 2, 10), date(2026, 2, 11)},
    }
    assert window_of_events(extras) == Window.of_days(date(2026, 1, 1), date(2026, 2, 11))
    assert window_of_events([]) is None


def test_view_names_are_unique_and_exports_have_stable_columns() -> None:
    assert len({v.name for v in VIEWS}) == len(VIEWS) == 14
    assert len(EXPORTS) == 5
    record = {"workspace_id": "w", "day": date(2026, 2, 9), "users": None, "built_at": datetime.now(UTC)}
    columns = ("workspace_id", "day", "users")
    assert list(csv.reader(io.StringIO(csv_bytes(columns, [record]).decode()))) == [
        list(columns),
        ["w", "2026-02-09", ""],
    ]
    assert json.loads(jsonl_bytes(columns, [record])) == {"workspace_id": "w", "day": "2026-02-09", "users": None}
