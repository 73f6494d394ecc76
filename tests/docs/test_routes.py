"""Every API route the docs name is one of the contract registry's, and the sandbox page lists them all."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl

from airflow_provider_codex.api.endpoints import ENDPOINTS, Endpoint

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", *(REPO / "docs").glob("*.md")]
#: How the docs spell the registry's placeholders.
SPELLING = {"{owner_id}": "<id>", "{log_file_id}": "<log_file_id>"}


def _spelled(endpoint: Endpoint) -> list[str]:
    routes = []
    for owner in endpoint.owners:
        route = endpoint.route(owner)
        for placeholder, spelling in SPELLING.items():
            route = route.replace(placeholder, spelling)
        routes.append(route)
    return routes


ROUTES = {route: endpoint for endpoint in ENDPOINTS.values() for route in _spelled(endpoint)}


def _named_routes(text: str) -> list[str]:
    return [span for span in re.findall(r"`([^`\s]+)`", text) if "/workspaces/" in span or "/organizations/" in span]


def test_every_route_the_docs_name_is_served():
    wrong = []
    for path in DOCUMENTS:
        for span in _named_routes(path.read_text()):
            route, _, query = span.removeprefix("/v1").partition("?")
            fixed = [dict(e.fixed_params) for e in ENDPOINTS.values() if route in _spelled(e)]
            if route not in ROUTES or (query and dict(parse_qsl(query)) not in fixed):
                wrong.append(f"{path.relative_to(REPO)}: {span}")
    assert wrong == [], f"not routes of airflow_provider_codex/api/endpoints.py: {wrong}"


def test_the_sandbox_page_lists_every_route_under_v1():
    text = (REPO / "docs" / "testing.md").read_text()
    listed = {span.partition("?")[0] for span in _named_routes(text) if span.startswith("/v1/")}
    assert listed == {f"/v1{route}" for route in ROUTES}
