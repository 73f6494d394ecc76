"""The Airflow plugin that adds the "Codex" view to the Airflow 3 UI.

It mounts the view's FastAPI app (:mod:`.app`) in the api-server at
``/codex`` and adds a "Codex" entry to the UI's navigation (an external view
the UI shows in its own frame). The provider declares it twice, as official
providers do: ``get_provider_info``'s ``plugins`` (read when ``[core]
lazy_discover_providers`` is off) and the ``airflow.plugins`` entry point
(always read); Airflow registers a plugin name once.

Every Airflow process loads plugins (a task's too), so this module stays
light: it only checks that this Airflow can serve plugin views, and the app
is built on the api-server's first request to it. On an Airflow without them
(before 3.1, or without the api-server's FastAPI pieces) the plugin
registers nothing: the provider's operators, hooks and sensors work as
before, without the view.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)

#: The plugin's name, in ``get_provider_info`` and ``airflow plugins``.
PLUGIN_NAME = "codex"
#: Where the app is mounted in the api-server (the nav entry points there).
URL_PREFIX = "/codex"
#: What the view needs of Airflow and its web stack (Airflow >= 3.1 ships them all).
REQUIRED_MODULES = ("fastapi", "jinja2", "httpx", "airflow.api_fastapi.core_api.security")


def can_serve_views() -> bool:
    """Whether this Airflow has what the view needs, found without importing it."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in REQUIRED_MODULES)
    except (ImportError, ValueError) as missing:
        log.info("The Codex view is off: %s", missing)
        return False


class LazyCodexApp:
    """An ASGI app that builds the view's FastAPI app (:func:`.app.create_app`) on its first request."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from airflow_provider_codex.plugins.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


def ui_parts() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(fastapi_apps, external_views)``; both empty when this Airflow cannot serve plugin views."""
    if not can_serve_views():
        return [], []
    app = {"app": LazyCodexApp(), "url_prefix": URL_PREFIX, "name": "Codex"}
    view = {
        "name": "Codex",
        "href": f"{URL_PREFIX.lstrip('/')}/",
        "destination": "nav",
        "url_route": "codex",
        "category": "browse",
    }
    return [app], [view]


_APPS, _VIEWS = ui_parts()


class CodexViewPlugin(AirflowPlugin):
    """Coverage per dataset and day, the latest loads and the governance report, behind Airflow's auth."""

    name = PLUGIN_NAME
    fastapi_apps = _APPS
    external_views = _VIEWS
