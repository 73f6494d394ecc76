"""What the sandbox saw: request counts, 429s sent, and the download host's request headers.

Tests assert on behaviour a client cannot show by itself: how many requests it
made per route, that it backed off, that it never sent its bearer key to the
signed-URL host (the download host records every request's headers for that).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

#: Download requests whose headers are kept (the oldest are dropped beyond this).
MAX_RECORDED_DOWNLOADS = 10_000


class Stats:
    """Thread-safe counters, returned as JSON-able dicts by :meth:`snapshot`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, int]] = Counter()
        self._downloads: Counter[int] = Counter()
        self._download_requests: list[dict[str, Any]] = []
        self._bytes_sent = 0

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._downloads.clear()
            self._download_requests.clear()
            self._bytes_sent = 0

    def record_request(self, route: str, status: int, body_bytes: int) -> None:
        with self._lock:
            self._requests[(route, status)] += 1
            self._bytes_sent += body_bytes

    def record_download(self, method: str, path: str, headers: Iterable[tuple[str, str]], status: int) -> None:
        with self._lock:
            self._downloads[status] += 1
            self._download_requests.append(
                {"method": method, "path": path, "status": status, "headers": [[k, v] for k, v in headers]}
            )
            if len(self._download_requests) > MAX_RECORDED_DOWNLOADS:
                del self._download_requests[0]

    def snapshot(self) -> dict[str, Any]:
        """``{"requests": {route: {status: n}}, "requests_total", "responses_429", "bytes_sent",
        "downloads": {status: n}, "download_requests": [{"method", "path", "status", "headers"}],
        "download_header_names": [...]}`` (header names lower-cased, sorted)."""
        with self._lock:
            routes: dict[str, dict[str, int]] = {}
            for (route, status), count in sorted(self._requests.items()):
                routes.setdefault(route, {})[str(status)] = count
            names = sorted({k.lower() for r in self._download_requests for k, _ in r["headers"]})
            return {
                "requests": routes,
                "requests_total": sum(self._requests.values()),
                "responses_429": sum(c for (_, s), c in self._requests.items() if s == 429),
                "bytes_sent": self._bytes_sent,
                "downloads": {str(s): c for s, c in sorted(self._downloads.items())},
                "download_requests": [
                    dict(r, headers=[list(h) for h in r["headers"]]) for r in self._download_requests
                ],
                "download_header_names": names,
            }
