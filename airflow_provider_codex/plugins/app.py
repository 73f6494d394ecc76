"""The Codex view's FastAPI app, mounted in the api-server at ``/codex`` (:mod:`.codex_view`).

Airflow does not authenticate plugin apps (a mounted app inherits none of the
core API's dependencies), so every route here takes Airflow's own
``get_user`` dependency: the UI's token cookie or a bearer token, checked by
the auth manager; without one, 401; with a bad one, 403. What the user may
then see is what Airflow's REST API returns to *their* token
(:mod:`.airflow_api`); a user who may read no Codex DAG gets 403.

Pages are server-rendered with Jinja2 (which Airflow ships), autoescaped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pendulum
from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from airflow_provider_codex.plugins.airflow_api import airflow_api, user_token
from airflow_provider_codex.plugins.reports import read_report
from airflow_provider_codex.plugins.sources import ApiGet, ApiRefused
from airflow_provider_codex.plugins.view import DEFAULT_DAYS, MAX_DAYS, Page, build_page, latest_report_path

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
#: The headers of every page: no caching of what one user may see, no framing but by the Airflow UI itself.
PAGE_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
#: A report is HTML a DAG wrote: shown sandboxed (no script, no same-origin access to the user's session).
REPORT_HEADERS = {**PAGE_HEADERS, "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'"}

User = Annotated[Any, Depends(get_user)]


def api_for(request: Request, user: User) -> ApiGet:
    """Airflow's REST API as the request's user (``get_user`` has already checked the token)."""
    token = user_token(request)
    if token is None:  # get_user accepted a user from a trusted middleware without a token of ours
        raise HTTPException(401, "Not authenticated")
    return airflow_api(token)


Api = Annotated[ApiGet, Depends(api_for)]


def refused(failed: ApiRefused) -> HTTPException:
    """Airflow's refusal, passed on (401/403 as such; anything else as a 502 from the view)."""
    if failed.status in (401, 403):
        return HTTPException(failed.status, "Airflow refused: you may not read the Codex DAGs")
    return HTTPException(502, "Airflow's API failed to answer the Codex view")


def render(page: Page, user: Any) -> str:
    return TEMPLATES.get_template("codex.html").render(page=page, user_name=_user_name(user))


def _user_name(user: Any) -> str:
    getter = getattr(user, "get_name", None)
    return str(getter()) if callable(getter) else ""


def create_app() -> FastAPI:
    app = FastAPI(title="Codex", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    async def codex_view(
        user: User, api: Api, days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = DEFAULT_DAYS
    ) -> HTMLResponse:
        try:
            page = await build_page(api, pendulum.now("UTC"), days)
        except ApiRefused as failed:
            raise refused(failed) from None
        if page.sources.refused:
            raise HTTPException(403, "You may not read any Codex DAG")
        return HTMLResponse(render(page, user), headers=PAGE_HEADERS)

    @app.get("/report/{dag_id}", response_class=HTMLResponse)
    async def codex_report(dag_id: str, user: User, api: Api) -> HTMLResponse:
        try:
            path = await latest_report_path(api, dag_id, pendulum.now("UTC"))
        except ApiRefused as failed:
            raise refused(failed) from None
        if path is None:
            raise HTTPException(404, f"no governance report of DAG {dag_id!r} that you may read")
        html = await read_report(path)
        if html is None:
            raise HTTPException(404, "the governance report's file cannot be read from the api-server")
        return HTMLResponse(html, headers=REPORT_HEADERS)

    return app
