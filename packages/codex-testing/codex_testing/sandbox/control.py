"""The control API, under ``/_sandbox/`` at the server root: outside the contract's ``/v1``, no key needed.

Tests and demos steer a running sandbox through it, from any process:

* ``GET /_sandbox/info``: URLs, ids and keys;
* ``GET /_sandbox/stats``: counts per route and status, 429s sent, the download
  host's requests with their headers (see :class:`~.stats.Stats`);
* ``GET|POST /_sandbox/faults``: read or replace the faults. A POST *replaces
  every fault*, it does not merge: a field left out of the JSON object returns
  to its default (to change one fault, GET the object, change it, POST it all);
* ``GET|POST /_sandbox/clock``: read or set "now": ``{"now": "2026-11-25T06:00:00Z"}``,
  ``{"now": null}`` (back to the default) or ``{"advance_seconds": 3600}``;
* ``POST /_sandbox/reset``: faults from the config, counters, stats, limiter and clock reset.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from airflow_provider_codex import _json

from ._synth import iso_s
from .responses import error_response, json_response

if TYPE_CHECKING:
    from .server import SandboxServer

#: The control API's prefix (not part of the contract).
CONTROL_PREFIX = "/_sandbox"


def is_control(path: str) -> bool:
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


async def _payload(request: Request) -> tuple[Any, str | None]:
    """The JSON body (``{}`` when empty), or why it is refused."""
    body = await request.body()
    try:
        return (_json.loads(body) if body.strip() else {}), None
    except ValueError:
        return None, "the body is not JSON"


def _set_clock(server: SandboxServer, payload: Any) -> str | None:
    """Apply a clock request; ``None``, or why it was refused."""
    if not isinstance(payload, dict) or not ({"now", "advance_seconds"} & set(payload)):
        return 'give {"now": "<ISO 8601 with zone>" | null} or {"advance_seconds": <number>}'
    try:
        if "advance_seconds" in payload:
            server.clock.advance(float(payload["advance_seconds"]))
        elif payload["now"] is None:
            server.clock.set(None)
        else:
            server.clock.set(datetime.fromisoformat(str(payload["now"])))
    except (ValueError, TypeError) as bad:
        return str(bad)
    return None


def routes(server: SandboxServer) -> list[Route]:
    async def info(request: Request) -> Response:
        return json_response(200, server.info())

    async def stats(request: Request) -> Response:
        return json_response(200, server.stats_snapshot())

    async def reset(request: Request) -> Response:
        server.reset()
        return json_response(200, server.stats_snapshot())

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            payload, problem = await _payload(request)
            if problem is None and not isinstance(payload, dict):
                problem = "faults must be a JSON object"
            if problem is None:
                try:
                    server.faults.replace_all(payload)  # every field: those left out go back to their defaults
                except (ValueError, TypeError) as bad:
                    problem = str(bad)
            if problem is not None:
                return error_response(400, problem, "invalid_request_error")
        return json_response(200, server.faults.as_dict())

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            payload, problem = await _payload(request)
            problem = problem or _set_clock(server, payload)
            if problem is not None:
                return error_response(400, problem, "invalid_request_error")
        return json_response(200, {"now": iso_s(server.clock.now()), "live": server.clock.live})

    return [
        Route(CONTROL_PREFIX + "/info", info, methods=["GET"]),
        Route(CONTROL_PREFIX + "/stats", stats, methods=["GET"]),
        Route(CONTROL_PREFIX + "/reset", reset, methods=["POST"]),
        Route(CONTROL_PREFIX + "/faults", faults, methods=["GET", "POST"]),
        Route(CONTROL_PREFIX + "/clock", clock, methods=["GET", "POST"]),
    ]
