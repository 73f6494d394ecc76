"""The API host's ASGI app: the contract's routes and the control API on FastAPI.

What Starlette and FastAPI would answer on their own is reshaped to the
contract: an unknown path is the OpenAI-style 404, a validation error the
``{"detail": [{"loc", "msg", "type"}]}`` 422, an unexpected exception a 500 with
the error body. Every contract request is counted in the stats (the control
API's are not), and a query parameter with an empty value counts as absent,
as it did before FastAPI (``?limit=`` is no ``limit``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import contract, control
from .responses import Refusal, error_response, validation_response
from .stats import Stats

if TYPE_CHECKING:
    from .server import SandboxServer


def api_app(server: SandboxServer) -> ASGIApp:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, redirect_slashes=False)
    app.include_router(contract.router(server))
    app.router.routes.extend(control.routes(server))
    for error in (Refusal, RequestValidationError, HTTPException):
        app.add_exception_handler(error, _error)
    app.add_exception_handler(Exception, _internal_error)
    return _Counted(app, server.stats)


async def _error(request: Request, exc: Exception) -> Response:
    """A refusal as it is; a validation error as the contract's 422; routing's 404 (and the control API's 405)."""
    if isinstance(exc, Refusal):
        return exc.response
    if isinstance(exc, RequestValidationError):
        return validation_response(exc.errors())
    path = request.scope["raw_path"].decode("latin-1")  # as sent
    message = f"Unknown control route {request.method} {path}" if control.is_control(path) else f"Unknown path {path}"
    return error_response(404, message, "invalid_request_error", "not_found")


async def _internal_error(request: Request, exc: Exception) -> Response:
    """Starlette answers this, then re-raises for uvicorn to log the traceback."""
    request.scope[contract.ROUTE_KEY] = "error"
    return error_response(500, "sandbox internal error", "server_error")


class _Counted:
    """Drops empty query values, then counts each contract request: (route, status, body bytes)."""

    def __init__(self, app: ASGIApp, stats: Stats) -> None:
        self.app = app
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope["query_string"]
        if query:
            scope = dict(scope, query_string=b"&".join(p for p in query.split(b"&") if p.partition(b"=")[2]))
        if control.is_control(scope["path"]):
            await self.app(scope, receive, send)
            return
        status, size = 500, 0

        async def counting(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting)
        finally:
            self.stats.record_request(scope.get(contract.ROUTE_KEY, "unknown"), status, size)
