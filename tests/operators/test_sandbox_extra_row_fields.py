"""The sandbox's ``extra_row_fields`` fault: rows served with fields a newer API would add."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, date, datetime

import httpx
import pytest
from codex_testing.sandbox import Faults

DAY = date(2026, 2, 12)


def served_usage(sandbox) -> list[dict]:
    start = int(datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC).timestamp())
    response = httpx.get(
        f"{sandbox.base_url}/analytics/codex/workspaces/{sandbox.workspace_id}/usage",
        params={"start_time": start, "end_time": start + 86_400, "limit": 1000},
        headers={"Authorization": f"Bearer {sandbox.analytics_key}"},
    )
    response.raise_for_status()
    return response.json()["data"]


def test_rows_carry_the_extra_fields_and_the_accessors_return_what_was_served(sandbox):
    plain = served_usage(sandbox)
    assert plain == sandbox.data.usage_rows(DAY) and plain
    assert all("seatTier" not in r for r in plain)
    sandbox.faults.extra_row_fields = {
        "usage": {"seatTier": "pro", "totals.reasoningCredits": 2.5, "clients.imageInputs": 1, "models.tier": "x"},
        "codex_tasks": {"sandboxPolicy": "read-only"},
    }
    drifted = served_usage(sandbox)
    assert drifted == sandbox.data.usage_rows(DAY)
    for before, after in zip(plain, drifted, strict=True):
        assert after["seatTier"] == "pro" and after["totals"]["reasoningCredits"] == 2.5
        assert all(c["imageInputs"] == 1 for c in after["clients"])
        # a null or absent container gets nothing
        assert (after.get("models") is None) == (before.get("models") is None)
        assert all(m["tier"] == "x" for m in after.get("models") or [])
        for key in ("seatTier",):
            after.pop(key)
        after["totals"].pop("reasoningCredits")
        for c in after["clients"]:
            c.pop("imageInputs")
        for m in after.get("models") or []:
            m.pop("tier")
        assert after == before  # nothing else changed
    assert all(t["sandboxPolicy"] == "read-only" for t in sandbox.data.tasks())
    assert sandbox.data.usage_rows(DAY, group="workspace")[0].get("seatTier") is None  # per route


def test_reset_clears_them_and_the_control_api_sets_them(sandbox):
    sandbox.faults.extra_row_fields = {"code_reviews": {"newCount": 1}}
    sandbox.reset()
    assert sandbox.faults.extra_row_fields == {}
    body = json.dumps({"extra_row_fields": {"code_reviews": {"newCount": 3}}}).encode()
    request = urllib.request.Request(f"{sandbox.control_url}/faults", data=body, method="POST")
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["extra_row_fields"] == {"code_reviews": {"newCount": 3}}
    assert sandbox.data.code_review_rows(DAY)[0]["newCount"] == 3


def test_bad_values_are_refused():
    faults = Faults()
    with pytest.raises(ValueError, match="unknown route"):
        faults.extra_row_fields = {"compliance_logs": {"x": 1}}
    with pytest.raises(ValueError, match="object of field names"):
        faults.extra_row_fields = {"usage": ["x"]}
    with pytest.raises(ValueError, match="JSON-able"):
        faults.extra_row_fields = {"usage": {"x": object()}}
    faults.replace_all({"extra_row_fields": '{"usage": {"x": 1}}'})  # as the CLI's --fault gives it
    assert faults.as_dict()["extra_row_fields"] == {"usage": {"x": 1}}
    copy = faults.copy()
    copy.as_dict()["extra_row_fields"]["usage"]["x"] = 2
    assert faults.extra_row_fields == {"usage": {"x": 1}} == copy.extra_row_fields
