"""Where a request goes: the base URL checked, every path part escaped, a redirect resolved.

Parts of a URL come from a connection (the base URL, the owner id) and from
responses (a listed file id, a ``Location``): each is checked or escaped here
before a request carries the key anywhere, and signed URLs are shown in
messages without their signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote as quote_path
from urllib.parse import urlsplit

import httpx

from airflow_provider_codex.api.config import ClientConfig
from airflow_provider_codex.api.endpoints import Endpoint
from airflow_provider_codex.api.errors import CodexConfigError, CodexContractError, quote

#: The URL schemes a base URL (and a signed URL) may have.
HTTP_SCHEMES = frozenset({"http", "https"})


def route_url(config: ClientConfig, endpoint: Endpoint, path_params: Mapping[str, str] | None = None) -> str:
    """The route's URL for ``config``'s owner; every path part percent-escaped (see :func:`path_part`)."""
    base = base_url(config)
    owner, owner_id = config.owner_for(endpoint)
    if owner_id in {".", ".."}:
        raise CodexConfigError(f"{config.source}: {owner.value} id {owner_id!r} cannot be a path part")
    parts = {name: path_part(endpoint, name, value) for name, value in (path_params or {}).items()}
    return base + endpoint.route(owner).format(owner_id=quote_path(owner_id, safe=""), **parts)


def base_url(config: ClientConfig) -> str:
    """The connection's base URL, refused at once unless it is ``http(s)://``: no retry fixes a scheme."""
    base = config.base_url.rstrip("/")
    split = urlsplit(base)
    if split.scheme.lower() not in HTTP_SCHEMES or not split.netloc:
        shown = f"{split.scheme}://{split.netloc.rpartition('@')[2]}" if split.netloc else split.scheme or base
        raise CodexConfigError(
            f"{config.source}: the base URL {quote(shown)} is not an http(s) URL; check the scheme "
            "of the base URL (the connection's host): it must start with https:// "
            "(http:// only for a local sandbox)"
        )
    return base


def path_part(endpoint: Endpoint, name: str, value: Any) -> str:
    """``value`` percent-escaped for the ``{name}`` part of ``endpoint``'s path.

    Ids from responses must match the registry's pattern for that part (see
    ``Endpoint.path_params``): a ``../`` in a listed id would otherwise reach
    another route with the key attached. Refused before any request is made.
    """
    pattern = endpoint.path_params.get(name)
    if pattern is not None and not (isinstance(value, str) and pattern.fullmatch(value)):
        raise CodexContractError(
            f"{endpoint.name}: {name} {quote(value)} is not a safe path part (1 to 200 letters, digits, "
            "'_', '.' or '-', not '.' or '..'); no request is made for it"
        )
    text = str(value)
    if text in {"", ".", ".."}:
        raise CodexContractError(f"{endpoint.name}: {name} {text!r} cannot be a path part")
    return quote_path(text, safe="")


def joined(base: httpx.URL, location: str) -> httpx.URL | None:
    """``location`` resolved against ``base``; None when it is no URL at all."""
    try:
        return base.join(location) if location else None
    except (httpx.InvalidURL, ValueError, TypeError):
        return None


def shown(url: httpx.URL) -> str:
    """A signed URL fit for a message: its query (the signature, a credential of its own) left out."""
    text = f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}{url.path}"
    return quote(text + ("?<signature redacted>" if url.query else ""))
