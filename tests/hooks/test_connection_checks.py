"""A connection is checked when it is read: each wrong field fails at once, naming the field and the fix.

Every connection here is a real ``AIRFLOW_CONN_*`` environment variable, in the
JSON or the URI form, read by Airflow's own secrets backend.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from airflow_provider_codex.api.errors import CodexConfigError
from airflow_provider_codex.hooks.codex import CodexHook

START = datetime(2026, 2, 20, tzinfo=UTC)


def set_conn(monkeypatch: pytest.MonkeyPatch, value: str, conn_id: str = "codex_checks") -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
    return conn_id


def failure(conn_id: str) -> str:
    with pytest.raises(CodexConfigError) as failed:
        CodexHook(conn_id).config  # noqa: B018
    return str(failed.value)


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        pytest.param([1, 2], ("is a JSON list, not an object", "one JSON object"), id="list"),
        pytest.param('{"workspace_id": "x", "analytics_api_key": "sk-secret"', ("not valid JSON",), id="truncated"),
        pytest.param("not json at all", ("not valid JSON", "one JSON object"), id="not-json"),
    ],
)
def test_an_extra_that_is_not_a_json_object_is_named(sandbox, monkeypatch, extra, names):
    conn_id = set_conn(monkeypatch, json.dumps({"conn_type": "codex", "host": sandbox.base_url, "extra": extra}))
    message = failure(conn_id)
    assert "connection 'codex_checks'" in message
    for name in names:
        assert name in message
    assert "sk-secret" not in message and "no key" not in message
    ok, said = CodexHook(conn_id).test_connection()
    assert not ok and "misconfigured" in said and "JSON" in said


@pytest.mark.parametrize(
    ("field", "value", "wanted"),
    [
        ("timeout", "fast", "a number above 0"),
        ("timeout", -1, "a number above 0"),
        ("timeout", "nan", "a number above 0"),
        ("timeout", 10**9, "at most 3600"),
        ("requests_per_minute", "lots", "a whole number above 0"),
        ("requests_per_minute", 2.5, "a whole number above 0"),
        ("requests_per_minute", "0", "a whole number above 0"),
        ("rate_period_seconds", "-5", "a number above 0"),
        ("rate_period_seconds", True, "a number above 0"),
        ("verify_ssl", "maybe", "true or false"),
        ("verify_ssl", 2, "true or false"),
    ],
)
def test_a_bad_number_or_flag_names_the_field(codex_conn, field, value, wanted):
    message = failure(codex_conn(**{field: value}))
    assert f"'{field}' must be" in message and wanted in message
    assert f"fix the '{field}' field" in message


def test_numbers_from_a_uri_or_a_form_are_strings_and_fine(codex_conn):
    config = CodexHook(codex_conn(timeout=" 12.5 ", requests_per_minute="30", verify_ssl="OFF")).config
    assert (config.timeout, config.requests_per_minute, config.verify) == (12.5, 30, False)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("workspace_id", "11111111-2222-4333-8444-555555555555/usage?x="),
        ("workspace_id", "../organizations/org-x"),
        ("workspace_id", "11111111222243338444555555555555"),
        ("workspace_id", 12),
        ("organization_id", "org-abc/logs"),
        ("organization_id", "acme"),
        ("organization_id", "org-"),
    ],
)
def test_an_owner_id_that_is_not_an_id_fails_before_any_request(sandbox, codex_conn, field, value):
    message = failure(codex_conn(**{field: value}))
    assert f"'{field}' must be" in message and f"fill the '{field}' field with the id alone" in message
    assert sum(sum(s.values()) for s in sandbox.stats()["requests"].values()) == 0


def test_a_workspace_uuid_is_lowercased(sandbox, codex_conn):
    mixed = "AbCdEf01-2222-4333-8444-555555555555"
    assert CodexHook(codex_conn(workspace_id=f" {mixed} ")).config.workspace_id == mixed.lower()
    hook = CodexHook(codex_conn(organization_id="org-Ab_c-1"))
    assert hook.config.workspace_id == sandbox.workspace_id
    assert hook.config.organization_id == "org-Ab_c-1"  # organization ids keep their case
    assert list(hook.iter_rows("code_reviews", START, START + timedelta(days=1)))


def uri(sandbox, path: str = "/v1", **query: str) -> str:
    host_port = sandbox.base_url.split("://", 1)[1].split("/", 1)[0]
    fields = {"workspace_id": sandbox.workspace_id, "analytics_api_key": sandbox.analytics_key} | query
    return f"codex://{host_port}{path}?{urlencode(fields)}"


def test_a_uri_form_connection_keeps_its_path_as_the_base_path(sandbox, monkeypatch):
    host_port = sandbox.base_url.split("://", 1)[1].split("/", 1)[0]
    assert CodexHook(set_conn(monkeypatch, uri(sandbox))).config.base_url == f"https://{host_port}/v1"
    conn_id = set_conn(monkeypatch, uri(sandbox, scheme="http", timeout="5"))
    hook = CodexHook(conn_id)
    assert hook.config.base_url == sandbox.base_url
    assert hook.config.timeout == 5
    assert list(hook.iter_rows("code_reviews", START, START + timedelta(days=1)))  # one real call
    assert CodexHook(conn_id).test_connection()[0]


def test_a_uri_whose_path_is_http_reads_it_as_the_scheme(sandbox, monkeypatch):
    """As the HTTP provider's HttpHook reads ``schema``: ``codex://host:port/http`` is ``http://host:port``."""
    host_port = sandbox.base_url.split("://", 1)[1].split("/", 1)[0]
    assert CodexHook(set_conn(monkeypatch, uri(sandbox, "/http"))).config.base_url == f"http://{host_port}"
    assert CodexHook(set_conn(monkeypatch, uri(sandbox, ""))).config.base_url == f"https://{host_port}"


def test_an_unsupported_scheme_names_the_fix(sandbox, monkeypatch):
    message = failure(set_conn(monkeypatch, uri(sandbox, scheme="ftp")))
    assert "is not an http(s) URL" in message and "scheme=http" in message
    bad_host = json.dumps({"conn_type": "codex", "host": "ftp://example.org/v1", "extra": {}})
    assert "is not an http(s) URL" in failure(set_conn(monkeypatch, bad_host))
