"""Shared fixtures: a strict build of the whole book and a headless browser.

``built_book`` builds the book once per test session into a temporary folder,
exactly as ``make book`` does (every chapter executed, ``-W --keep-going``), and
returns the HTML folder. The build starts in the background as soon as the
collected tests show that one needs it, and the tests that need it run last, so
on two cores the book builds while the other tests run (the tests marked ``processes``,
whose draws take both cores, just before the book's). ``book_url`` serves it on 127.0.0.1. ``browser`` is
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
import tempfile
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


#: Fixtures that need the strict book build (and so npm, for the vendored MathJax and plotly.js)
#: or a browser; a test using any of them, directly or through another fixture, is marked
#: accordingly here, so ``make test-fast`` (``-m "not book and not browser"``) never runs one.
BOOK_FIXTURES = {"built_book", "book_url", "visit"}
BROWSER_FIXTURES = {"browser", "visit"}


def _needs_book(item) -> bool:
    return bool(set(getattr(item, "fixturenames", ())) & BOOK_FIXTURES)


@pytest.hookimpl(tryfirst=True)  # before -m deselects by these markers
def pytest_collection_modifyitems(config, items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & BOOK_FIXTURES:
            item.add_marker(pytest.mark.book)
            item.add_marker(pytest.mark.slow)
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)
    # the tests that need the book last: the build (started when collection ends) runs meanwhile;
    # before them the tests that run their draws in two processes, so that they come when the
    # build no longer holds one of the two cores (while it does, a single-process test shares
    # the machine evenly with it)
    def rank(item):
        return 2 if _needs_book(item) else 1 if item.get_closest_marker("processes") else 0

    items[:] = sorted(items, key=rank)  # stable: within each group, the collection order


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "processes: runs its draws in two worker processes (jobs=2); ordered after "
                   "the single-process tests, before the book's (tests/conftest.py)")


class _BookBuild:
    """The strict book build, as ``make book`` runs it, in a background process."""

    def __init__(self):
        if not (ROOT / ".vendor" / ".installed").exists() or not AXE.exists():
            proc = _run(["make", "vendor"])
            if proc.returncode:
                raise RuntimeError(f"make vendor failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        self.out = Path(tempfile.mkdtemp(prefix="alliance-book-"))
        self.log = self.out / "build.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "jupyter-book"), "build", str(ROOT), "--path-output", str(self.out),
                 "-W", "--keep-going"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def wait(self) -> Path:
        code = self.proc.wait()
        if code:
            text = self.log.read_text(errors="replace")
            pytest.fail(f"strict book build failed (exit {code}):\n{text[-8000:]}")
        html = self.out / "_build" / "html"
        assert (html / "index.html").exists()
        return html

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.out, ignore_errors=True)


_BUILD: list[_BookBuild] = []


def _book_build() -> _BookBuild:
    if not _BUILD:
        _BUILD.append(_BookBuild())
    return _BUILD[0]


def pytest_collection_finish(session):
    if session.config.option.collectonly:
        return
    if any(_needs_book(item) for item in session.items):
        try:
            _book_build()
        except RuntimeError:
            pass  # reported by the first test that needs the book (built_book)


def pytest_sessionfinish(session, exitstatus):
    for build in _BUILD:
        build.close()


@pytest.fixture(scope="session")
def built_book() -> Path:
    """The whole book built strictly into a temporary folder (started in the background when
    collection ended); its HTML folder."""
    try:
        build = _book_build()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    return build.wait()


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
