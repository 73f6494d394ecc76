"""The *limit* cases: what fetching alone costs, with no provider code in the loop.

A bare ``httpx`` loop pages through the same data the loaders read and parses
it with the parser the provider uses (:func:`airflow_provider_codex._json.loads`:
orjson, with the cyclic GC paused for a large body, so the bar is the fastest
parse this machine has), then drops it. Compliance also lists the log files,
follows each 307 to the signed URL, checks the SHA-256 and parses every line.
Routes, page sizes and paging fields come from the package's registry
(:func:`bench.config.api_facts`).
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from airflow_provider_codex._json import loads
from bench.config import ANALYTICS_KEY, COMPLIANCE_KEY, api_facts


def analytics(base_url: str, start_ts: int, end_ts: int) -> dict[str, Any]:
    facts = api_facts()
    usage, paging = facts["usage"], facts["usage"]["paging"]
    url = base_url + usage["route"]
    first, last = usage["window"]
    query: dict[str, Any] = {first: start_ts, last: end_ts, facts["limit_param"]: usage["limit"]}
    rows = requests = 0
    started = time.perf_counter()
    with httpx.Client(headers={"Authorization": f"Bearer {ANALYTICS_KEY}"}, timeout=600) as client:
        params = query
        while True:
            response = client.get(url, params=params)
            response.raise_for_status()
            requests += 1
            body = loads(response.content)
            rows += len(body[paging["data_field"]])
            if not body[paging["has_more_field"]]:
                break
            params = {**query, paging["cursor_param"]: body[paging["cursor_field"]]}
            del body, response
    return {"seconds": time.perf_counter() - started, "rows": rows, "client_requests": requests}


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def compliance(base_url: str, day: str, grace_hours: int = 6) -> dict[str, Any]:
    """One day's files (listing to day end + grace), downloaded, verified, parsed; events of ``day`` counted."""
    facts = api_facts()["logs"]
    paging = facts["paging"]
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    before = start + timedelta(days=1, hours=grace_hours)
    prefix = day.encode()
    events = lines = files = requests = 0
    seen: set[bytes] = set()
    started = time.perf_counter()
    with (
        httpx.Client(headers={"Authorization": f"Bearer {COMPLIANCE_KEY}"}, timeout=600) as api,
        httpx.Client(timeout=600) as signed,
    ):
        after = _iso(start)
        listing: list[dict[str, Any]] = []
        while True:
            params = [
                *((facts["event_type_param"], t) for t in facts["event_types"]),
                (facts["window"][0], after),
                (facts["window"][1], _iso(before)),
                (api_facts()["limit_param"], str(facts["limit"])),
            ]
            response = api.get(base_url + facts["route"], params=params)
            response.raise_for_status()
            requests += 1
            page = loads(response.content)
            listing += page[paging["data_field"]]
            if not page[paging["has_more_field"]]:
                break
            after = page[paging["cursor_field"]]
        for entry in listing:
            redirect = api.get(base_url + facts["file_route"].format(log_file_id=entry["id"]))
            download = signed.get(redirect.headers["location"])
            download.raise_for_status()
            requests += 2
            body = download.content
            if hashlib.sha256(body).hexdigest() != entry["file_sha256"]:
                raise ValueError(f"file {entry['id']}: sha256 mismatch")
            files += 1
            for line in body.splitlines():
                if not line:
                    continue
                event = loads(line)
                lines += 1
                if event["timestamp"].encode().startswith(prefix):
                    event_id = event["event_id"].encode()
                    if event_id not in seen:
                        seen.add(event_id)
                        events += 1
    return {
        "seconds": time.perf_counter() - started,
        "rows": events,
        "lines": lines,
        "files": files,
        "client_requests": requests,
    }
