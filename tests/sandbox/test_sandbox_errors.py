"""Auth (401/403), unknown owners and paths (404), validation (422) over real HTTP."""

from __future__ import annotations

import pytest
from sandbox_helpers import AFTER, BEFORE, END, START, client, path

from airflow_provider_codex.api.endpoints import (
    API_KEYS,
    CODE_REVIEWS,
    CODEX_TASKS,
    COMPLIANCE_LOGS,
    ENDPOINTS,
    EVENT_TYPE_PARAM,
    LIMIT_PARAM,
    PAGING_RULES,
    USAGE,
    USAGE_WORKSPACE,
    Api,
    Owner,
    Paging,
)

ROUTES = [(e, o) for e in ENDPOINTS.values() for o in e.owners]
ROUTE_IDS = [f"{e.name}-{o.value}" for e, o in ROUTES]
PAGE = PAGING_RULES[Paging.NEXT_PAGE].cursor_param


def _url(sandbox, endpoint, owner):
    return path(sandbox, endpoint, owner, log_file_id="lf_missing")


def _key(sandbox, api):
    return sandbox.analytics_key if api == Api.ANALYTICS else sandbox.compliance_key


@pytest.mark.parametrize(("endpoint", "owner"), ROUTES, ids=ROUTE_IDS)
def test_every_route_needs_a_bearer_key(sandbox, endpoint, owner):
    with client(sandbox, None) as anonymous, client(sandbox, "sk-not-a-key") as unknown:
        missing = anonymous.get(_url(sandbox, endpoint, owner))
        wrong = unknown.get(_url(sandbox, endpoint, owner))
    for response in (missing, wrong):
        assert response.status_code == 401
        assert isinstance(response.json()["error"]["message"], str)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert missing.json()["error"]["code"] != wrong.json()["error"]["code"]


@pytest.mark.parametrize(("endpoint", "owner"), ROUTES, ids=ROUTE_IDS)
def test_the_other_apis_key_is_403_naming_the_missing_scope(sandbox, endpoint, owner):
    other = Api.COMPLIANCE if endpoint.api == Api.ANALYTICS else Api.ANALYTICS
    with client(sandbox, _key(sandbox, other)) as http:
        response = http.get(_url(sandbox, endpoint, owner))
    assert response.status_code == 403
    assert API_KEYS[endpoint.api].scope in response.json()["error"]["message"]


@pytest.mark.parametrize(("endpoint", "owner"), ROUTES, ids=ROUTE_IDS)
def test_an_unknown_owner_is_404(sandbox, endpoint, owner):
    other_id = "99999999-2222-4333-8444-555555555555" if owner == Owner.WORKSPACE else "org-someoneelse"
    url = endpoint.route(owner).format(owner_id=other_id, log_file_id="lf_x")
    with client(sandbox, _key(sandbox, endpoint.api)) as http:
        response = http.get(url)
    assert response.status_code == 404
    assert other_id in response.json()["error"]["message"]


def test_unknown_paths_and_log_files_are_404_and_non_get_is_405(sandbox, analytics, compliance):
    assert analytics.get(path(sandbox, USAGE) + "/extra").status_code == 404
    assert analytics.get("/nothing/here").status_code == 404
    assert (
        compliance.get(
            _url(sandbox, next(e for e in ENDPOINTS.values() if e.redirects_to_signed_url), Owner.WORKSPACE)
        ).status_code
        == 404
    )
    assert analytics.post(path(sandbox, USAGE)).status_code == 405


VALIDATION_CASES = [
    (USAGE, {LIMIT_PARAM: "0"}, LIMIT_PARAM, "greater_than_equal"),
    (USAGE, {LIMIT_PARAM: str((USAGE.max_limit or 0) + 1)}, LIMIT_PARAM, "less_than_equal"),
    (USAGE, {LIMIT_PARAM: "ten"}, LIMIT_PARAM, "int_parsing"),
    (USAGE, {START: "yesterday"}, START, "int_parsing"),
    (USAGE, {START: "1772582400", END: "1772582400"}, START, "value_error"),
    (USAGE, {PAGE: "not-a-cursor"}, PAGE, "value_error"),
    (USAGE_WORKSPACE, {"group": "team"}, "group", "enum"),
    (CODE_REVIEWS, {END: "-5"}, END, "greater_than_equal"),
    (COMPLIANCE_LOGS, {AFTER: "2026-03-01T00:00:00Z"}, EVENT_TYPE_PARAM, "missing"),
    (COMPLIANCE_LOGS, {EVENT_TYPE_PARAM: "CODEX_LOG"}, AFTER, "missing"),
    (COMPLIANCE_LOGS, {EVENT_TYPE_PARAM: "CODEX_LOG", AFTER: "2026-03-01T00:00:00"}, AFTER, "timezone_aware"),
    (COMPLIANCE_LOGS, {EVENT_TYPE_PARAM: "CODEX_LOG", AFTER: "March 1st"}, AFTER, "datetime_parsing"),
    (
        COMPLIANCE_LOGS,
        {EVENT_TYPE_PARAM: "CODEX_LOG", AFTER: "2026-03-02T00:00:00Z", BEFORE: "2026-03-01T00:00:00Z"},
        BEFORE,
        "value_error",
    ),
    (
        COMPLIANCE_LOGS,
        {
            EVENT_TYPE_PARAM: "CODEX_LOG",
            AFTER: "2026-03-01T00:00:00Z",
            LIMIT_PARAM: str((COMPLIANCE_LOGS.max_limit or 0) + 1),
        },
        LIMIT_PARAM,
        "less_than_equal",
    ),
    (CODEX_TASKS, {LIMIT_PARAM: "0"}, LIMIT_PARAM, "greater_than_equal"),
]


@pytest.mark.parametrize(
    ("endpoint", "params", "name", "type_"),
    VALIDATION_CASES,
    ids=[f"{c[0].name}-{c[2]}-{c[3]}" for c in VALIDATION_CASES],
)
def test_validation_errors_are_422_in_the_contract_shape(sandbox, endpoint, params, name, type_):
    params = {**params}
    if "group" not in params:
        params.update(endpoint.fixed_params)
    with client(sandbox, _key(sandbox, endpoint.api)) as http:
        response = http.get(path(sandbox, endpoint), params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"detail"}
    for entry in body["detail"]:
        assert isinstance(entry["loc"], list)
        assert isinstance(entry["msg"], str)
        assert entry["msg"]
        assert isinstance(entry["type"], str)
    assert [entry["loc"] for entry in body["detail"]] == [["query", name]]
    assert body["detail"][0]["type"] == type_


def test_all_problems_of_a_request_are_reported_together(sandbox, analytics):
    response = analytics.get(path(sandbox, USAGE), params={LIMIT_PARAM: "0", START: "x"})
    assert response.status_code == 422
    assert sorted(e["loc"][1] for e in response.json()["detail"]) == sorted([LIMIT_PARAM, START])
