"""What a client needs to know: where the service is, who we are, and our keys.

Keys are held in :class:`Secret`, whose ``repr`` and ``str`` never show the
value, so a config printed in a log, a traceback or a rendered template field
cannot leak one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from airflow_provider_codex.api.endpoints import (
    API_KEYS,
    DEFAULT_BASE_URL,
    DEFAULT_REQUESTS_PER_MINUTE,
    OWNER_ID_FORMATS,
    Api,
    Endpoint,
    Owner,
)
from airflow_provider_codex.api.errors import CodexConfigError
from airflow_provider_codex.api.limits import PROCESS_BUDGETS, BudgetSource
from airflow_provider_codex.api.retry import RetryPolicy


class Secret:
    """A string that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def secret_or_none(value: str | None) -> Secret | None:
    """Wrap a key; an empty or blank value counts as absent."""
    return Secret(value.strip()) if value and value.strip() else None


def checked_owner_id(owner: Owner, value: object, source: str) -> str | None:
    """An owner id as the URLs need it, or a :class:`CodexConfigError` naming the field and the fix.

    The id becomes a path segment of every request: anything but the documented
    format (a ``/``, a ``?``) would reach another route, or store rows under an id
    no correct load ever replaces. A workspace UUID is lowercased, so one
    workspace is one id in every table whichever case the connection spells.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    form = OWNER_ID_FORMATS[owner]
    text = value.strip() if isinstance(value, str) else ""
    if form.lowercase:
        text = text.lower()
    if not re.fullmatch(form.pattern, text):
        shown = repr(value) if len(repr(value)) <= 80 else f"{repr(value)[:80]}…"
        raise CodexConfigError(
            f"{source}: '{form.field}' must be {form.description}, such as '{form.example}', got {shown}: "
            f"fill the '{form.field}' field with the id alone, nothing before or after it"
        )
    return text


@dataclass(frozen=True)
class ClientConfig:
    """Everything a client needs; built by the hook from an Airflow connection.

    Compliance logs exist per workspace and per organization. When only
    ``organization_id`` is set, log routes use the organization; otherwise
    they use the workspace.
    """

    base_url: str = DEFAULT_BASE_URL
    workspace_id: str | None = None
    organization_id: str | None = None
    analytics_api_key: Secret | None = None
    compliance_api_key: Secret | None = None
    #: Seconds each socket read, write or connect may wait (httpx's timeout: per read, not in all).
    timeout: float = 60.0
    #: Seconds one attempt may take in all: connecting, sending, the headers and the whole
    #: body. Per-read timeouts never end a server that trickles a byte at a time; past this
    #: the attempt is a retryable timeout. Sized for the largest log file (~15 MB) on a slow
    #: link (~50 KB/s).
    request_deadline: float = 300.0
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE
    #: Seconds over which ``requests_per_minute`` is counted (a benchmark compresses it).
    rate_period: float = 60.0
    verify: bool | str = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Where each key's requests are counted against ``requests_per_minute``: this process
    #: alone (the default) or a store every process shares (:mod:`.budget`).
    rate_budget: BudgetSource = field(default=PROCESS_BUDGETS, compare=False, repr=False)
    #: Where a connection's fields came from, for errors that name the fix.
    source: str = "the Codex connection"

    def key_for(self, api: Api) -> Secret:
        """The key of ``api``, or an error naming the connection field to fill."""
        key = self.analytics_api_key if api is Api.ANALYTICS else self.compliance_api_key
        if key is None:
            info = API_KEYS[api]
            raise CodexConfigError(
                f"{self.source} has no {api.value} API key: fill the '{info.connection_field}' "
                f"field with a key that has the '{info.scope}' scope"
            )
        return key

    def owner_for(self, endpoint: Endpoint) -> tuple[Owner, str]:
        """Which owner (workspace or organization) a route is called for, and its id."""
        if self.workspace_id and Owner.WORKSPACE in endpoint.owners:
            return Owner.WORKSPACE, self.workspace_id
        if self.organization_id and Owner.ORGANIZATION in endpoint.owners:
            return Owner.ORGANIZATION, self.organization_id
        wanted = " or ".join(f"'{o.value}_id'" for o in endpoint.owners)
        raise CodexConfigError(f"{self.source} has no {wanted}: the '{endpoint.name}' route needs one")

    def secrets(self) -> tuple[str, ...]:
        """The raw key values, for scrubbing them from anything that gets printed."""
        return tuple(k.reveal() for k in (self.analytics_api_key, self.compliance_api_key) if k)
