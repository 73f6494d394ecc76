"""The sandbox's answers in the contract's shapes: JSON, OpenAI-style errors, 422s, ``Retry-After``.

One place for the bodies every route shares, so a refusal reads the same
whichever step (routing, auth, faults, validation) refused the request.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from airflow_provider_codex import _json


def json_response(status: int, value: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(_json.dumps(value), status, headers, "application/json")


def error_response(
    status: int, message: str, type_: str, code: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    """The OpenAI-style error body ``{"error": {"message", "type", "param", "code"}}``."""
    return json_response(status, {"error": {"message": message, "type": type_, "param": None, "code": code}}, headers)


class Refusal(Exception):
    """Raised by a check before validation (auth, owner, faults): answer this error."""

    def __init__(
        self, status: int, message: str, type_: str, code: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.response = error_response(status, message, type_, code, headers)


def invalid(name: str, msg: str, value: object = None, type_: str = "value_error") -> RequestValidationError:
    """A 422 of a check pydantic cannot make (a window's order, a cursor's query)."""
    return RequestValidationError([{"loc": ("query", name), "msg": msg, "type": type_, "input": value}])


def validation_response(errors: Sequence[Any]) -> Response:
    """``{"detail": [{"loc", "msg", "type", "input"?}]}``: pydantic's errors without its ``ctx`` and ``url``."""
    detail = []
    for error in errors:
        entry = {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        if error.get("input") is not None:
            entry["input"] = error["input"]
        detail.append(entry)
    return json_response(422, {"detail": detail})


def format_retry_after(seconds: float, http_date: bool) -> str:
    """``Retry-After`` as seconds (``"2"``, or ``"0.25"`` under 1 s) or an HTTP date (rounded up)."""
    if http_date:
        return email.utils.formatdate(math.ceil(time.time() + seconds), usegmt=True)
    if seconds == int(seconds):
        return str(int(seconds))
    return f"{seconds:.3f}".rstrip("0").rstrip(".")
