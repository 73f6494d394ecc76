"""The connection's rate budget backend: where its clients count requests (``docs/scale-out.md``).

``rate_limit_backend`` is ``host`` (the default: every process of the machine
books in one SQLite file under the temp dir, nothing to run), ``process`` (each
process alone, as before) or ``redis``: one budget for every process and host,
kept in the Redis of the Airflow connection ``rate_limit_redis_conn_id``
(``redis_default``, the Celery broker's in most deployments). That connection is
read as the Redis provider's ``RedisHook`` reads it (host, port, login, password,
extras ``db`` and ``ssl*``), but its clients are made by
:meth:`.RedisStore.connect`: the budget needs every call bounded and never
retried, which the hook's client is not.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_provider_codex.api.errors import CodexConfigError
from airflow_provider_codex.api.limits import PROCESS_BUDGETS, BudgetSource
from airflow_provider_codex.get_provider_info import CONN_FIELDS

BACKEND_FIELD, REDIS_CONN_FIELD = "rate_limit_backend", "rate_limit_redis_conn_id"
PROCESS, HOST, REDIS = "process", "host", "redis"
BACKENDS: tuple[str, ...] = tuple(CONN_FIELDS[BACKEND_FIELD]["schema"]["enum"])
DEFAULT_BACKEND: str = CONN_FIELDS[BACKEND_FIELD]["schema"]["default"]
DEFAULT_REDIS_CONN_ID: str = CONN_FIELDS[REDIS_CONN_FIELD]["schema"]["default"]
#: The extras of a Redis connection that ``RedisHook`` passes to the client as TLS settings.
SSL_EXTRAS = ("ssl", "ssl_cert_reqs", "ssl_ca_certs", "ssl_keyfile", "ssl_certfile", "ssl_check_hostname")
_CONN_ID = re.compile(r"[\w.-]+")  # what Airflow allows in a connection id


@dataclass(frozen=True)
class BudgetChoice:
    """The two extras, checked."""

    backend: str = HOST
    redis_conn_id: str = DEFAULT_REDIS_CONN_ID


def budget_choice(extra: Mapping[str, Any], source: str) -> BudgetChoice:
    """The connection's backend and Redis connection id, or an error naming the field and the fix."""
    value = extra.get(BACKEND_FIELD)
    backend = value.strip().lower() if isinstance(value, str) else value
    if backend is None or backend == "":
        backend = DEFAULT_BACKEND
    elif backend not in BACKENDS:
        raise CodexConfigError(
            f"{source}: '{BACKEND_FIELD}' must be one of {', '.join(repr(b) for b in BACKENDS)}, got "
            f"{_shown(value)}: fix the '{BACKEND_FIELD}' field ('host' for one budget per machine, 'redis' "
            f"for one across hosts, kept in the Redis of '{REDIS_CONN_FIELD}'), or leave it empty for the "
            f"default, {DEFAULT_BACKEND}"
        )
    raw = extra.get(REDIS_CONN_FIELD)
    conn_id = raw.strip() if isinstance(raw, str) else raw
    if conn_id is None or conn_id == "":
        conn_id = DEFAULT_REDIS_CONN_ID
    elif not isinstance(conn_id, str) or not _CONN_ID.fullmatch(conn_id):
        raise CodexConfigError(
            f"{source}: '{REDIS_CONN_FIELD}' must be the id of an Airflow Redis connection, such as "
            f"'{DEFAULT_REDIS_CONN_ID}', got {_shown(raw)}: fix the '{REDIS_CONN_FIELD}' field "
            f"(or leave it empty for the default, {DEFAULT_REDIS_CONN_ID})"
        )
    return BudgetChoice(str(backend), conn_id)


def missing_redis_connection(choice: BudgetChoice, source: str) -> CodexConfigError:
    """A misconfiguration, not an outage: the task fails at once rather than pace alone unnoticed."""
    return CodexConfigError(
        f"{source}: '{REDIS_CONN_FIELD}' names the connection '{choice.redis_conn_id}', which is not defined: "
        f"define that Redis connection (the Celery broker's, e.g. AIRFLOW_CONN_{choice.redis_conn_id.upper()}="
        f"'redis://host:6379/?db=0'), fix the '{REDIS_CONN_FIELD}' field, or set '{BACKEND_FIELD}' to 'host'"
    )


def rate_budget(choice: BudgetChoice, source: str, redis_conn: Any = None) -> BudgetSource:
    """Where the clients of the connection count requests; the Redis connection is read if not given."""
    if choice.backend == PROCESS:
        return PROCESS_BUDGETS
    if choice.backend == HOST:
        return host_store()
    if redis_conn is None:
        try:
            redis_conn = BaseHook.get_connection(choice.redis_conn_id)
        except AirflowNotFoundException:
            raise missing_redis_connection(choice, source) from None
    return redis_store(redis_conn)


_STORES: dict[Hashable, BudgetSource] = {}
_STORES_LOCK = threading.Lock()


def host_store() -> BudgetSource:
    """The process's one store for the host's budget file (under the temp dir, per user)."""
    from airflow_provider_codex.api.budget_host import HostStore, default_path

    path = default_path()
    with _STORES_LOCK:
        store = _STORES.get(path)
        if store is None:
            store = _STORES[path] = HostStore(path)
        return store


def redis_store(conn: Any) -> BudgetSource:
    """The process's one store for the Redis connection ``conn`` (one pool, one "down" state)."""
    try:
        from airflow_provider_codex.api.budget_redis import RedisStore  # redis-py only where a budget uses it
    except ImportError:
        raise CodexConfigError(
            f"the 'redis' rate budget needs redis-py to reach connection '{conn.conn_id}': install "
            "'airflow-provider-codex[redis]', or set 'rate_limit_backend' to 'host'"
        ) from None

    where = f"connection '{conn.conn_id}' (the rate budget's Redis)"
    extra = conn.extra_dejson
    if str(extra.get("cluster", "")).lower() in {"true", "1"}:
        raise CodexConfigError(
            f"{where}: is a Redis cluster; the rate budget needs one standalone Redis (such as the Celery "
            "broker's): point the connection at it, or set 'rate_limit_backend' to 'host'"
        )
    db = extra.get("db") or 0
    if isinstance(db, bool) or not (isinstance(db, int) or (isinstance(db, str) and db.strip().isdigit())):
        raise CodexConfigError(f"{where}: its 'db' extra must be a whole number from 0, got {_shown(db)}: fix it")
    password = None if str(conn.password).lower() in {"none", "false", ""} else conn.password
    settings: dict[str, Any] = {
        "host": conn.host or "localhost",
        "port": int(conn.port or 6379),
        "db": int(db),
        "username": conn.login or None,
        "password": password,
        "ssl_options": {name: extra[name] for name in SSL_EXTRAS if name in extra},
    }
    scope = tuple((k, repr(v)) for k, v in settings.items())
    with _STORES_LOCK:
        store = _STORES.get(scope)
        if store is None:
            store = _STORES[scope] = RedisStore.connect(**settings)
        return store


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:40]}…"
