"""Provider metadata, as data: Airflow reads it without importing the hook.

The connection form (``conn-fields``, ``ui-field-behaviour``) is declared here,
the Airflow 3.3 way, so the UI can show the ``codex`` connection type's fields
without importing provider code. Fields whose schema has ``"format":
"password"`` are treated as sensitive by Airflow and masked.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_codex import __version__
from airflow_provider_codex.api.endpoints import DEFAULT_REQUESTS_PER_MINUTE

_PACKAGE = "airflow_provider_codex"
_INTEGRATION = "OpenAI Codex"


def _string(label: str, description: str, *, secret: bool = False, default: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["string", "null"]}
    if secret:
        schema["format"] = "password"
    if default is not None:
        schema["default"] = default
    return {"label": label, "description": description, "schema": schema}


def _number(
    label: str, description: str, *, kind: str, default: float, above: float, maximum: float | None = None
) -> dict[str, Any]:
    """A numeric field; the hook checks a value against the same bounds (``exclusiveMinimum``, ``maximum``)."""
    schema: dict[str, Any] = {"type": [kind, "null"], "default": default, "exclusiveMinimum": above}
    if maximum is not None:
        schema["maximum"] = maximum
    return {"label": label, "description": description, "schema": schema}


CONN_FIELDS: dict[str, dict[str, Any]] = {
    "workspace_id": _string(
        "Workspace ID",
        "The ChatGPT Enterprise workspace UUID (Admin console > Workspace settings); stored in lowercase.",
    ),
    "organization_id": _string(
        "Organization ID", "Optional 'org-…' id: compliance logs for a whole organization instead of one workspace."
    ),
    "analytics_api_key": _string(
        "Analytics API key",
        "A key with the codex.enterprise.analytics.read scope. Leave empty if you only load compliance data.",
        secret=True,
    ),
    "compliance_api_key": _string(
        "Compliance API key",
        "A Compliance API key with read scope. Leave empty if you only load analytics.",
        secret=True,
    ),
    "content_hash_secret": _string(
        "Content hash salt",
        "Salt for hashing prompt/response text (content policy 'hash'). Keep it stable to compare hashes.",
        secret=True,
    ),
    "timeout": _number(
        "Timeout (s)", "Per-request timeout in seconds.", kind="number", default=60, above=0, maximum=3600
    ),
    "request_deadline": _number(
        "Request deadline (s)",
        "Most seconds one request or one log file download may take in all (the timeout bounds each read only).",
        kind="number",
        default=300,
        above=0,
        maximum=86400,
    ),
    "requests_per_minute": _number(
        "Requests per minute",
        "Client-side limit per route, below the service's own.",
        kind="integer",
        default=DEFAULT_REQUESTS_PER_MINUTE,
        above=0,
    ),
    "rate_period_seconds": _number(
        "Rate period (s)",
        "Seconds the requests-per-minute limit is counted over (60: per minute).",
        kind="number",
        default=60,
        above=0,
        maximum=86400,
    ),
    "rate_limit_backend": {
        "label": "Rate budget backend",
        "description": "Where requests are counted against the limit: 'process' (each task process alone), "
        "'host' (every process of one machine, in a file under the temp dir) or 'redis' (every worker "
        "and host, in Redis).",
        "schema": {"type": ["string", "null"], "enum": ["process", "host", "redis"], "default": "process"},
    },
    "rate_limit_redis_conn_id": _string(
        "Rate budget Redis connection",
        "With the 'redis' backend: the Airflow Redis connection the budget is kept in (e.g. the Celery broker's).",
        default="redis_default",
    ),
    "verify_ssl": {
        "label": "Verify TLS",
        "description": "Verify the server's TLS certificate (leave on outside local testing).",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-codex",
        "name": _INTEGRATION,
        "description": "Load OpenAI Codex governance data (Analytics and Compliance APIs) into any SQL "
        "database or object storage, in idempotent daily windows.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://developers.openai.com/codex/enterprise/governance",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.hooks.codex"]}],
        "transfers": [
            {
                "source-integration-name": _INTEGRATION,
                "target-integration-name": target,
                "python-module": f"{_PACKAGE}.transfers.{module}",
            }
            for target, module in (
                ("Common SQL", "codex_to_sql"),
                ("Common IO", "codex_to_storage"),
                ("Common IO", "codex_log_files_to_storage"),
                ("Common SQL", "codex_views"),
            )
        ],
        # The retention guard reads a destination and moves no data: an operator, not a transfer.
        "operators": [
            {"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.transfers.codex_retention_guard"]}
        ],
        "sensors": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.sensors.codex"]}],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [f"{_PACKAGE}.triggers.codex", f"{_PACKAGE}.triggers.resume"],
            }
        ],
        # The "Codex" view in the UI; also an ``airflow.plugins`` entry point (pyproject), as official
        # providers declare theirs: Airflow reads this list only with ``[core] lazy_discover_providers`` off.
        "plugins": [{"name": "codex", "plugin-class": f"{_PACKAGE}.plugins.codex_view.CodexViewPlugin"}],
        "connection-types": [
            {
                "hook-class-name": f"{_PACKAGE}.hooks.codex.CodexHook",
                "hook-name": "OpenAI Codex",
                "connection-type": "codex",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "password", "port", "extra"],
                    "relabeling": {"host": "Base URL"},
                    "placeholders": {"host": "https://api.chatgpt.com/v1"},
                },
            }
        ],
    }
