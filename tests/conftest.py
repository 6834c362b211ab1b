"""Shared fixtures: a strict build of the whole book and a headless browser.

``built_book`` builds the book once per test session into a temporary folder,
exactly as ``make book`` does (every chapter executed, ``-W --keep-going``), and
returns the HTML folder. ``book_url`` serves it on 127.0.0.1. ``browser`` is
Debian's chromium driven by Playwright for Python (never a downloaded browser);
``visit`` opens one page and records console errors, failed requests and any
request to another host.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: axe-core (npm, vendor/package-lock.json), copied by `make vendor` for the tests only.
AXE = ROOT / ".vendor" / "test" / "axe.min.js"
#: axe-core rule tags: WCAG 2.0, 2.1 and 2.2, levels A and AA.
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


def _run(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """Build the whole book strictly into a temporary folder; return its HTML folder."""
    if not (ROOT / ".vendor" / ".installed").exists() or not AXE.exists():
        proc = _run(["make", "vendor"])
        if proc.returncode:
            pytest.fail(f"make vendor failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    out = tmp_path_factory.mktemp("book")
    proc = _run([str(BIN / "jupyter-book"), "build", str(ROOT), "--path-output", str(out),
                 "-W", "--keep-going"])
    if proc.returncode:
        pytest.fail(f"strict book build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
    html = out / "_build" / "html"
    assert (html / "index.html").exists()
    return html


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the built book as a static host does: text files gzip-compressed when asked.

    Page weights measured in the browser are then the bytes a reader actually downloads
    from any ordinary web host (GitHub Pages, Netlify and the like compress text).
    """

    COMPRESS = {".html", ".js", ".css", ".json", ".svg", ".csv", ".md", ".txt", ".ipynb"}

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if (path.is_file() and path.suffix in self.COMPRESS
                and "gzip" in self.headers.get("Accept-Encoding", "")):
            body = gzip.compress(path.read_bytes(), compresslevel=6)
            self.send_response(200)
            self.send_header("Content-Type", self.guess_type(str(path)))
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


@pytest.fixture(scope="session")
def book_url(built_book):
    """Serve the built book on 127.0.0.1; yields the base URL (ending in '/')."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists() and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
                       env=env, capture_output=True)
        path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Debian chromium is not installed and could not be installed with apt-get "
                    "(run `make test`, which installs it)")
    return path


@pytest.fixture(scope="session")
def browser():
    """A headless Debian chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    exe = _chromium()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


_AXE_RUN = """async (tags) => {
  const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  return r.violations.filter(v => ['serious', 'critical'].includes(v.impact))
    .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '));
}"""


@pytest.fixture(scope="session")
def axe():
    """``axe(page) -> list[str]``: the serious and critical WCAG 2 A/AA violations that
    axe-core finds on an open page (injected into the page; never part of the book)."""
    if not AXE.exists():
        proc = _run(["make", "vendor"])
        if proc.returncode or not AXE.exists():
            pytest.fail(f"axe-core is missing and make vendor failed:\n{proc.stderr[-2000:]}")

    def check(page) -> list[str]:
        page.add_script_tag(path=str(AXE))
        return page.evaluate(_AXE_RUN, WCAG)

    return check


@dataclass
class PageReport:
    """What happened while a page loaded."""

    page: object
    console_errors: list = field(default_factory=list)
    failed_requests: list = field(default_factory=list)
    external_requests: list = field(default_factory=list)
    bad_responses: list = field(default_factory=list)
    idle_timeout: bool = False

    def assert_clean(self):
        problems = {k: v for k, v in {
            "console errors": self.console_errors,
            "failed requests": self.failed_requests,
            "requests to other hosts": self.external_requests,
            "HTTP errors": self.bad_responses,
        }.items() if v}
        assert not problems, f"{self.page.url}: {problems}"


@pytest.fixture
def visit(browser, book_url):
    """Open a page of the built book: ``visit("chapters/01_design.html") -> PageReport``.

    ``viewport=(390, 844), mobile=True`` opens it as a phone does.

    Requests to any host other than the local server are recorded and aborted,
    so a page that needs the network fails its test instead of hanging.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    contexts = []
    host = urlparse(book_url).netloc

    def _visit(relpath: str, wait_ms: int = 300, viewport: tuple[int, int] | None = None,
               mobile: bool = False) -> PageReport:
        kw = {"viewport": {"width": viewport[0], "height": viewport[1]}} if viewport else {}
        if mobile:
            kw.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        ctx = browser.new_context(**kw)
        contexts.append(ctx)
        page = ctx.new_page()
        report = PageReport(page)

        def route(r):
            url = r.request.url
            if urlparse(url).scheme in ("http", "https", "ws", "wss") and urlparse(url).netloc != host:
                report.external_requests.append(url)
                return r.abort()
            return r.continue_()

        ctx.route("**/*", route)
        page.on("console", lambda m: report.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: report.console_errors.append(str(e)))
        page.on("requestfailed", lambda r: report.failed_requests.append(r.url)
                if r.url not in report.external_requests else None)
        page.on("response", lambda r: report.bad_responses.append(f"{r.status} {r.url}")
                if r.status >= 400 else None)
        page.goto(book_url + relpath, wait_until="load", timeout=90_000)
        try:
            page.wait_for_load_state("networkidle", timeout=60_000)
        except PlaywrightTimeout:
            # The load event has fired and every request so far is recorded by the handlers
            # above (failed, external, HTTP errors). "networkidle" can time out when a page
            # keeps the main thread busy (software-rendered WebGL on a loaded machine), so
            # a timeout here is not itself a failure.
            report.idle_timeout = True
        page.wait_for_timeout(wait_ms)
        return report

    yield _visit
    for ctx in contexts:
        ctx.close()
