"""A page in Debian's headless Chromium, for tests of what a person looks at.

Playwright drives the machine's own Chromium (Debian's ``chromium`` package,
which ``scripts/bootstrap.sh`` installs) instead of a browser it downloads: a
test run fetches nothing, and the browser is the one people run. By default the
page is offline: every request that is not ``file:``, ``data:``, ``blob:`` or
``about:`` is aborted and recorded, so a test can assert that a report is
self-contained; ``allow`` lets loopback servers (an Airflow api-server) through.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

#: Where Debian's package puts the browser; ``CODEX_CHROMIUM`` names another binary.
_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
#: Schemes a self-contained page may load: none reaches the network.
_LOCAL_SCHEMES = frozenset({"file", "data", "blob", "about"})


class ChromiumNotInstalledError(RuntimeError):
    """No Chromium binary, or no Playwright to drive it."""


def chromium_binary() -> str:
    """The path of the Chromium to drive, or an error that says how to get it."""
    wanted = os.environ.get("CODEX_CHROMIUM")
    if wanted:
        if not Path(wanted).is_file():
            raise ChromiumNotInstalledError(f"CODEX_CHROMIUM={wanted!r} is not a file: point it at a Chromium binary")
        return wanted
    found = shutil.which("chromium") or next((p for p in _CANDIDATES if Path(p).is_file()), None)
    if found is None:
        raise ChromiumNotInstalledError(
            "chromium not found: install Debian's package (`apt-get install -y chromium`; scripts/bootstrap.sh does it)"
        )
    return found


def loopback_only(url: str) -> bool:
    """An ``allow`` rule for pages served by a local server: 127.0.0.1 and localhost, any port."""
    return urlsplit(url).hostname in {"127.0.0.1", "localhost", "::1"}


@dataclass
class BrowserPage:
    """The Playwright page, and what it asked of the network."""

    page: Page
    #: Every URL the page requested, in order (local ones included).
    requested: list[str] = field(default_factory=list)
    #: The URLs that were refused because they would have left the machine.
    blocked: list[str] = field(default_factory=list)

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        """Save a PNG of the page (CSS pixels, so it stays small), creating the folder."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=full_page, scale="css", type="png")
        return path


@contextmanager
def chromium_page(
    *,
    allow: Callable[[str], bool] | None = None,
    viewport: tuple[int, int] = (1280, 900),
    timeout: float = 30.0,
) -> Iterator[BrowserPage]:
    """Yield a fresh page of headless Chromium; the browser is always closed afterwards.

    ``allow(url)`` decides which non-local requests may go through (default: none);
    ``timeout`` (seconds) bounds every navigation and wait of the page.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ChromiumNotInstalledError(
            "playwright is not installed: `pip install 'airflow-provider-codex-testing[browser]'`"
        ) from exc
    binary = chromium_binary()
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium refuses its own sandbox.
        browser = playwright.chromium.launch(executable_path=binary, headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            context.set_default_timeout(timeout * 1000)
            page = context.new_page()
            seen = BrowserPage(page)
            page.on("request", lambda request: seen.requested.append(request.url))

            def route(route: Route) -> None:
                url = route.request.url
                if urlsplit(url).scheme in _LOCAL_SCHEMES or (allow is not None and allow(url)):
                    route.continue_()
                else:
                    seen.blocked.append(url)
                    route.abort("blockedbyclient")

            context.route("**/*", route)
            yield seen
        finally:
            browser.close()
