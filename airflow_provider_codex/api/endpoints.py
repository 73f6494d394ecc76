"""The registry of the Codex API contract: every fact about the service, once.

Base URLs, each route's path, key, paging, page-size limits and time window
live here, so the client, the sandbox, the hook and the operators never spell
a path or a parameter of their own. The facts come from ``shared/codex-api.md``,
whose tags ([official], [reference], [assumed]) recur as comments where it matters.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

DEFAULT_BASE_URL = "https://api.chatgpt.com/v1"  # [official]

#: The longest time any compliance record is kept [official].
COMPLIANCE_RETENTION_DAYS = 30

#: Default client-side budget of requests per minute per route [reference].
DEFAULT_REQUESTS_PER_MINUTE = 100


class Api(enum.StrEnum):
    """The two Codex governance APIs; each has its own key."""

    ANALYTICS = "analytics"
    COMPLIANCE = "compliance"


@dataclass(frozen=True)
class ApiKeyInfo:
    """What an API needs from its key, for error messages that name the fix."""

    connection_field: str  # the connection extra field that holds the key
    scope: str  # the scope the key must carry


API_KEYS: Mapping[Api, ApiKeyInfo] = MappingProxyType(
    {
        Api.ANALYTICS: ApiKeyInfo("analytics_api_key", "codex.enterprise.analytics.read"),
        Api.COMPLIANCE: ApiKeyInfo("compliance_api_key", "read"),
    }
)


class Owner(enum.StrEnum):
    """Who a route belongs to: a workspace, or (compliance logs only) an organization."""

    WORKSPACE = "workspace"
    ORGANIZATION = "organization"


@dataclass(frozen=True)
class OwnerIdFormat:
    """What an owner's id looks like: it goes into every URL path, so nothing else may pass."""

    field: str  # the connection field that holds it
    pattern: str  # a full-match regular expression
    description: str  # for error messages: what a valid id is
    example: str
    lowercase: bool  # ids compare case-insensitively; stored and sent in lowercase


#: The id formats of the owners [official: workspace ids are UUIDs, organization ids start with ``org-``].
OWNER_ID_FORMATS: Mapping[Owner, OwnerIdFormat] = MappingProxyType(
    {
        Owner.WORKSPACE: OwnerIdFormat(
            "workspace_id",
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "a UUID (8-4-4-4-12 hexadecimal digits)",
            "11111111-2222-4333-8444-555555555555",
            lowercase=True,
        ),
        Owner.ORGANIZATION: OwnerIdFormat(
            "organization_id",
            r"org-[A-Za-z0-9_-]+",
            "'org-' followed by letters, digits, '_' or '-'",
            "org-AbC123",
            lowercase=False,
        ),
    }
)


#: The base of each API under the service URL, by owner [official].
API_BASES: Mapping[tuple[Api, Owner], str] = MappingProxyType(
    {
        (Api.ANALYTICS, Owner.WORKSPACE): "/analytics/codex/workspaces/{owner_id}",
        (Api.COMPLIANCE, Owner.WORKSPACE): "/compliance/workspaces/{owner_id}",
        (Api.COMPLIANCE, Owner.ORGANIZATION): "/compliance/organizations/{owner_id}",
    }
)


class Paging(enum.StrEnum):
    """How a route pages. Each style is one loop in :mod:`.paging`."""

    #: ``{"data", "has_more", "next_page"}``; ``page=<next_page>`` passed back unchanged.
    NEXT_PAGE = "next_page"
    #: ``{"data", "has_more", "last_end_time"}``; ``after=<last_end_time>``.
    LAST_END_TIME = "last_end_time"
    #: ``{"object": "list", "data", "has_more", "last_id"}``; ``after=<last_id>``.
    LAST_ID = "last_id"
    #: A single JSON object, no paging.
    NONE = "none"


@dataclass(frozen=True)
class PagingRule:
    """Where a paging style keeps its cursor in a response, and how it goes back."""

    cursor_field: str | None  # the response field holding the next cursor
    cursor_param: str | None  # the query parameter that carries it back
    has_more_field: str = "has_more"  # never stop on a short page: stop on this
    data_field: str = "data"


PAGING_RULES: Mapping[Paging, PagingRule] = MappingProxyType(
    {
        Paging.NEXT_PAGE: PagingRule("next_page", "page"),
        Paging.LAST_END_TIME: PagingRule("last_end_time", "after"),
        Paging.LAST_ID: PagingRule("last_id", "after"),
        Paging.NONE: PagingRule(None, None),
    }
)

#: How many pages in a row may come back empty while ``has_more`` is true. A page may hold fewer
#: rows than ``limit`` [assumed], even none now and then, but a run this long with a fresh cursor
#: each time is a service walking nowhere: a contract error, not 100,000 requests.
MAX_EMPTY_PAGES = 20

#: What an id from a response may look like before it goes into a URL path: letters, digits,
#: ``_``, ``.`` and ``-``, at most 200, and never ``.`` or ``..`` (a path segment of their own).
#: Checked when the id is read; the client also percent-escapes every path part.
SAFE_PATH_ID = re.compile(r"(?!\.{1,2}\Z)[A-Za-z0-9_.-]{1,200}")

#: The query parameter that sets the page size, on every paged route.
LIMIT_PARAM = "limit"
#: The repeatable query parameter naming compliance event types.
EVENT_TYPE_PARAM = "event_type"


class WindowStyle(enum.StrEnum):
    """How a route takes a time window."""

    #: ``start_time`` inclusive / ``end_time`` exclusive, Unix seconds UTC [reference].
    UNIX_SECONDS = "unix_seconds"
    #: ``after`` exclusive / ``before``, ISO 8601 with a time zone [official].
    ISO_AFTER_BEFORE = "iso_after_before"
    #: The route takes no window.
    NONE = "none"


#: The (start, end) query parameters of each window style.
WINDOW_PARAMS: Mapping[WindowStyle, tuple[str, str] | None] = MappingProxyType(
    {
        WindowStyle.UNIX_SECONDS: ("start_time", "end_time"),
        WindowStyle.ISO_AFTER_BEFORE: ("after", "before"),
        WindowStyle.NONE: None,
    }
)


@dataclass(frozen=True)
class Endpoint:
    """One route of the contract.

    ``path`` is relative to the API base and may hold ``{placeholders}`` for
    path parameters (``{log_file_id}``). ``fixed_params`` are sent on every
    call (``group=workspace``). ``max_limit`` is the largest page the route
    accepts; ``default_limit`` is what the client asks for when the caller
    does not say (the largest, so a window costs the fewest requests);
    ``service_default_limit`` is what the service uses when no ``limit`` is sent.
    """

    name: str
    api: Api
    path: str
    paging: Paging
    window: WindowStyle = WindowStyle.NONE
    max_limit: int | None = None
    default_limit: int | None = None
    #: What the service itself uses when a request gives no ``limit``.
    service_default_limit: int | None = None
    fixed_params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    owners: tuple[Owner, ...] = (Owner.WORKSPACE,)
    #: Records returned by the route repeat across pages or files (at-least-once).
    at_least_once: bool = False
    #: The route answers with a redirect to a signed URL on another host.
    redirects_to_signed_url: bool = False
    #: The pattern each ``{path parameter}`` must match in full (values come from responses).
    path_params: Mapping[str, re.Pattern[str]] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def key(self) -> ApiKeyInfo:
        return API_KEYS[self.api]

    @property
    def paging_rule(self) -> PagingRule:
        return PAGING_RULES[self.paging]

    def route(self, owner: Owner = Owner.WORKSPACE) -> str:
        """The route template under the service URL, e.g. ``/analytics/…/usage``."""
        if owner not in self.owners:
            raise ValueError(f"endpoint {self.name!r} is not served for an {owner.value}")
        return API_BASES[(self.api, owner)] + self.path


_ANALYTICS_LIMIT = 30_000  # [reference] limit 1..30000
_ANALYTICS_SERVICE_DEFAULT = 1_000  # [reference] default 1000
_LOGS_LIMIT = 100  # [reference] limit 1..100
_LIST_LIMIT = 100  # [assumed] as the older compliance list endpoints


def _analytics(name: str, path: str, **fixed_params: str) -> Endpoint:
    """An analytics route: all page the same way and take the same window [reference]."""
    return Endpoint(
        name=name,
        api=Api.ANALYTICS,
        path=path,
        paging=Paging.NEXT_PAGE,
        window=WindowStyle.UNIX_SECONDS,
        max_limit=_ANALYTICS_LIMIT,
        default_limit=_ANALYTICS_LIMIT,
        service_default_limit=_ANALYTICS_SERVICE_DEFAULT,
        fixed_params=MappingProxyType(fixed_params),
    )


USAGE = _analytics("usage", "/usage")
USAGE_WORKSPACE = _analytics("usage_workspace", "/usage", group="workspace")
CODE_REVIEWS = _analytics("code_reviews", "/code_reviews")
CODE_REVIEW_RESPONSES = _analytics("code_review_responses", "/code_review_responses")
COMPLIANCE_LOGS = Endpoint(
    name="compliance_logs",
    api=Api.COMPLIANCE,
    path="/logs",
    paging=Paging.LAST_END_TIME,
    window=WindowStyle.ISO_AFTER_BEFORE,
    max_limit=_LOGS_LIMIT,
    default_limit=_LOGS_LIMIT,
    service_default_limit=_LOGS_LIMIT,  # [assumed]
    owners=(Owner.WORKSPACE, Owner.ORGANIZATION),
    at_least_once=True,
)
COMPLIANCE_LOG_FILE = Endpoint(
    name="compliance_log_file",
    api=Api.COMPLIANCE,
    path="/logs/{log_file_id}",
    paging=Paging.NONE,
    owners=(Owner.WORKSPACE, Owner.ORGANIZATION),
    redirects_to_signed_url=True,
    path_params=MappingProxyType({"log_file_id": SAFE_PATH_ID}),
)
MAX_EVENT_TIME = Endpoint(
    name="max_event_time",
    api=Api.COMPLIANCE,
    path="/max_event_time",
    paging=Paging.NONE,
    owners=(Owner.WORKSPACE, Owner.ORGANIZATION),
)


def _compliance_list(name: str, path: str) -> Endpoint:
    """A compliance list: ``last_id`` paging, as the older compliance list endpoints [official v1.1.1]."""
    return Endpoint(
        name=name,
        api=Api.COMPLIANCE,
        path=path,
        paging=Paging.LAST_ID,
        max_limit=_LIST_LIMIT,
        default_limit=_LIST_LIMIT,
        service_default_limit=_LIST_LIMIT,  # [assumed]
    )


CODEX_TASKS = _compliance_list("codex_tasks", "/codex_tasks")
CODEX_ENVIRONMENTS = _compliance_list("codex_environments", "/codex_environments")

ENDPOINTS: Mapping[str, Endpoint] = MappingProxyType(
    {
        e.name: e
        for e in (
            USAGE,
            USAGE_WORKSPACE,
            CODE_REVIEWS,
            CODE_REVIEW_RESPONSES,
            COMPLIANCE_LOGS,
            COMPLIANCE_LOG_FILE,
            MAX_EVENT_TIME,
            CODEX_TASKS,
            CODEX_ENVIRONMENTS,
        )
    }
)

#: Compliance event types that carry Codex activity [official].
CODEX_EVENT_TYPES = ("CODEX_LOG", "CODEX_SECURITY_LOG")


def endpoint(name: str) -> Endpoint:
    """Look an endpoint up by name, with an error that lists the known ones."""
    try:
        return ENDPOINTS[name]
    except KeyError:
        raise KeyError(f"unknown Codex endpoint {name!r}; known: {', '.join(ENDPOINTS)}") from None
