"""codex_testing.browser: Debian's headless Chromium, offline unless a request is allowed."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from codex_testing.browser import chromium_page, loopback_only

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def local_server() -> Iterator[str]:
    """A loopback HTTP server answering every GET with a small page."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<p id='served'>served</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_local_page_renders_and_what_would_leave_the_machine_is_blocked(tmp_path: Path, local_server: str) -> None:
    page_file = tmp_path / "page.html"
    page_file.write_text(
        "<svg width='20' height='20'><path class='mark' d='M0 0L10 10'/><path class='mark' d='M1 1L5 5'/></svg>"
        f"<img src='{local_server}pixel.png'><script src='https://cdn.example.com/chart.js'></script>",
        encoding="utf-8",
    )
    with chromium_page() as browser:
        browser.page.goto(page_file.as_uri())
        assert browser.page.locator("path.mark").count() == 2
        shot = browser.screenshot(tmp_path / "shots" / "page.png")
    assert shot.read_bytes().startswith(b"\x89PNG")
    # Offline by default: neither the loopback image nor the CDN script went through.
    assert f"{local_server}pixel.png" in browser.blocked
    assert "https://cdn.example.com/chart.js" in browser.blocked
    assert page_file.as_uri() in browser.requested


def test_allow_lets_a_loopback_server_through(local_server: str) -> None:
    with chromium_page(allow=loopback_only) as browser:
        browser.page.goto(local_server)
        assert browser.page.inner_text("#served") == "served"
    assert browser.blocked == []
