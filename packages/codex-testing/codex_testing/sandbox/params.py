"""Query-parameter parsing with 422 answers shaped like the real service's.

The contract gives validation errors as ``{"detail": [{"loc", "msg", "type"}]}``
(the FastAPI/pydantic shape), so the sandbox collects every problem of a
request, as FastAPI does, and answers them together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

#: The range of Unix-second parameters the sandbox accepts (1970 .. 9999).
MAX_UNIX_SECONDS = 253_402_300_799


class ValidationFailed(Exception):
    """A request is invalid; ``details`` is the ``detail`` list of the 422 body."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(d["msg"]) for d in details))
        self.details = details


def detail(name: str, msg: str, type_: str, value: object = None, where: str = "query") -> dict[str, Any]:
    """One entry of a 422 ``detail`` list."""
    entry: dict[str, Any] = {"loc": [where, name], "msg": msg, "type": type_}
    if value is not None:
        entry["input"] = value
    return entry


class Query:
    """The query parameters of one request; errors accumulate until :meth:`check`."""

    def __init__(self, values: dict[str, list[str]]) -> None:
        self._values = values
        self.errors: list[dict[str, Any]] = []

    def all(self, name: str) -> list[str]:
        """Every value of a repeatable parameter, empty ones dropped."""
        return [v for v in self._values.get(name, []) if v != ""]

    def one(self, name: str) -> str | None:
        """The (last) value of a parameter, or ``None`` when absent or empty."""
        values = self.all(name)
        return values[-1] if values else None

    def has(self, name: str) -> bool:
        return name in self._values

    def integer(self, name: str, *, minimum: int, maximum: int) -> int | None:
        """An integer parameter within ``[minimum, maximum]``, or ``None`` when absent."""
        raw = self.one(name)
        if raw is None:
            return None
        try:
            value = int(raw.strip())
        except ValueError:
            self.errors.append(
                detail(
                    name, "Input should be a valid integer, unable to parse string as an integer", "int_parsing", raw
                )
            )
            return None
        if value < minimum:
            self.errors.append(
                detail(name, f"Input should be greater than or equal to {minimum}", "greater_than_equal", raw)
            )
            return None
        if value > maximum:
            self.errors.append(detail(name, f"Input should be less than or equal to {maximum}", "less_than_equal", raw))
            return None
        return value

    def timestamp(self, name: str, *, required: bool) -> datetime | None:
        """An ISO 8601 date-time that must carry a time zone."""
        raw = self.one(name)
        if raw is None:
            if required:
                self.errors.append(detail(name, "Field required", "missing"))
            return None
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            self.errors.append(
                detail(name, "Input should be a valid datetime (ISO 8601 with a time zone)", "datetime_parsing", raw)
            )
            return None
        if value.tzinfo is None:
            self.errors.append(detail(name, "Input should have timezone info", "timezone_aware", raw))
            return None
        return value

    def require(self, name: str) -> list[str]:
        """A required, repeatable parameter."""
        values = self.all(name)
        if not values:
            self.errors.append(detail(name, "Field required", "missing"))
        return values

    def fail(self, name: str, msg: str, type_: str = "value_error", value: object = None) -> None:
        self.errors.append(detail(name, msg, type_, value))

    def check(self) -> None:
        """Raise :class:`ValidationFailed` if any problem was found."""
        if self.errors:
            raise ValidationFailed(self.errors)
