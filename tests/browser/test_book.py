"""The built book as a reader sees it: every page opened in a real, headless Chromium.

Run it with `make browser-test` after `make book` (that is, `pytest tests/browser
--browser`); without `--browser` it is skipped. A local HTTP server serves
_build/html, and Playwright drives Debian's chromium (never a browser of its own).
Every page listed in _toc.yml is checked for images that loaded, maths that MathJax
rendered, no widget error text or raw widget reprs in outputs, no request leaving
localhost (the book must work offline) and no JavaScript errors; each lecture for its
Colab badge and launch button; the navigation for reaching every lecture. A full-page
screenshot of each page goes to test-artifacts/screenshots/.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlparse

import nbformat
import pytest
import yaml
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WIDGET_MESSAGES = (
    "Failed to display Jupyter Widget",
    "Loading widget",
    "Error displaying widget",
    "Error rendering Jupyter widget",
)
WIDGET_REPR = re.compile(
    r"\b(?:HBox|VBox|Box|FloatProgress|IntProgress|IntSlider|FloatSlider|interactive|Output)\((?:children|value|layout|outputs)="
)
IGNORED_CONSOLE = (re.compile(r"^Got invalid theme mode"),)  # pydata-sphinx-theme, on a first visit with no saved theme


def _toc_files() -> list[str]:
    """Return every page of _toc.yml in reading order, as source paths without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return files


PAGES = _toc_files()
LECTURES = [page for page in PAGES if page.startswith("lectures/")]


def _colab_url(notebook: str) -> str:
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    slug = repo["url"].removeprefix("https://github.com/").rstrip("/")
    return f"https://colab.research.google.com/github/{slug}/blob/{repo['branch']}/{notebook}"


def _source_has_math(page: str) -> bool:
    """Return True if the page's Markdown (outside code) has $...$, $$...$$ or a {math} directive."""
    if (ROOT / f"{page}.ipynb").exists():
        nb = nbformat.read(ROOT / f"{page}.ipynb", as_version=4)
        text = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    else:
        text = (ROOT / f"{page}.md").read_text()
    if "{math}" in text:
        return True
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.search(r"(?<!\\)\$[^$\n]+\$", text) is not None


@dataclass
class Visit:
    """What one page load showed."""

    status: int
    facts: dict
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)
    mathjax_loaded: bool = True


FACTS_JS = """() => {
  const text = el => (el ? el.innerText : "");
  return {
    title: text(document.querySelector("main h1, article h1")),
    images: Array.from(document.images).map(img => ({src: img.currentSrc || img.src, alt: img.alt,
                                                     loaded: img.complete && img.naturalWidth > 0})),
    mathCount: document.querySelectorAll(".math").length,
    mjxCount: document.querySelectorAll("mjx-container").length,
    unrenderedMath: Array.from(document.querySelectorAll(".math")).filter(m => !m.querySelector("mjx-container"))
                         .map(m => m.textContent.slice(0, 80)),
    mathErrors: Array.from(document.querySelectorAll("mjx-merror")).map(m => m.textContent.slice(0, 80)),
    bodyText: document.body.innerText,
    outputText: Array.from(document.querySelectorAll(".cell_output")).map(text).join("\\n"),
    widgetScripts: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
    links: Array.from(document.querySelectorAll("a[href]")).map(a => ({
      href: a.href, text: a.innerText, title: a.title,
      img: a.querySelector("img") ? a.querySelector("img").alt : null,
    })),
    navLinks: Array.from(document.querySelectorAll("nav.bd-docs-nav a.reference.internal")).map(a => a.href),
    next: document.querySelector("a.right-next") ? document.querySelector("a.right-next").href : null,
  };
}"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def base_url(request):
    """Serve _build/html on a free localhost port for the whole session."""
    if not request.config.getoption("--browser", default=False):
        pytest.skip("the real-browser book test runs with --browser (make browser-test, after make book)")
    if not (BOOK / "index.html").exists():
        pytest.fail(f"no built book at {BOOK}: run `make book` first")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(BOOK)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _chromium(config) -> str:
    candidates = [
        config.getoption("--chromium", default=None),
        os.environ.get("CHROMIUM"),
        "chromium",
        "chromium-browser",
    ]
    for candidate in filter(None, candidates):
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail(
        "no Chromium found: install Debian's `chromium` and `chromium-driver` (apt-get), or pass --chromium PATH"
    )


@pytest.fixture(scope="session")
def browser_page(base_url, request):
    """One headless Chromium tab for the session, with every request outside localhost blocked and recorded."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(request.config), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT, service_workers="block")
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        browser.close()


@pytest.fixture(scope="session")
def visit(browser_page, base_url):
    """Return a function that loads a book page once (then from a cache) and reports what it showed."""
    page = browser_page
    visits: dict[str, Visit] = {}
    current: dict[str, Visit] = {}

    def on_route(route) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            current["visit"].external_requests.append(route.request.url)
            route.abort()

    def on_console(message) -> None:
        if message.type != "error" or any(p.search(message.text) for p in IGNORED_CONSOLE):
            return
        if message.location.get("url", "").endswith("/favicon.ico"):  # the browser asks for it; the book has none
            return
        current["visit"].console_errors.append(f"{message.text} ({message.location.get('url')})")

    def on_response(response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            current["visit"].failed_responses.append(f"{response.status} {response.url}")

    page.context.route("**/*", on_route)
    page.on("console", on_console)
    page.on("pageerror", lambda error: current["visit"].page_errors.append(str(error)))
    page.on("response", on_response)

    def load(path: str) -> Visit:
        if path in visits:
            return visits[path]
        current["visit"] = Visit(status=0, facts={})
        response = page.goto(urljoin(base_url, f"{path}.html"), wait_until="load")
        current["visit"].status = response.status if response else 0
        if page.evaluate("document.querySelectorAll('.math').length") > 0:
            try:
                page.wait_for_function(
                    "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20_000
                )
                page.evaluate("() => MathJax.startup.promise")
            except PlaywrightTimeoutError:
                current["visit"].mathjax_loaded = False
        page.evaluate("() => document.fonts.ready")
        page.wait_for_load_state("networkidle")
        current["visit"].facts = page.evaluate(FACTS_JS)
        # A window as tall as the page, rather than a full-page capture, whose stitching shifts
        # this theme's sticky sidebars.
        page.set_viewport_size({**VIEWPORT, "height": page.evaluate("document.documentElement.scrollHeight")})
        page.wait_for_timeout(300)
        index = PAGES.index(path) if path in PAGES else len(PAGES)
        page.screenshot(path=str(SCREENSHOTS / f"{index:02d}_{path.replace('/', '__')}.png"))
        page.set_viewport_size(VIEWPORT)
        visits[path] = current["visit"]
        return visits[path]

    return load


def test_toc_lists_every_built_page(base_url):
    built = {
        p.relative_to(BOOK).with_suffix("").as_posix()
        for p in BOOK.rglob("*.html")
        if not p.relative_to(BOOK).parts[0].startswith("_")
        and p.name not in {"genindex.html", "search.html", "index.html"}
    }
    assert built == set(PAGES), "the pages built and the pages in _toc.yml differ: the browser test would miss some"


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_offline_without_errors(visit, path):
    seen = visit(path)
    assert seen.status == 200
    assert seen.facts["title"], "the page has no title (h1)"
    problems = {
        "requests to other sites (the book must work offline)": seen.external_requests,
        "failed responses": seen.failed_responses,
        "JavaScript errors": seen.page_errors + seen.console_errors,
    }
    assert {what: found for what, found in problems.items() if found} == {}


@pytest.mark.parametrize("path", PAGES)
def test_every_image_loaded(visit, path):
    images = visit(path).facts["images"]
    broken = [img["src"] for img in images if not img["loaded"]]
    assert broken == [], f"images that did not load: {broken}"


@pytest.mark.parametrize("path", PAGES)
def test_maths_rendered_by_mathjax(visit, path):
    seen = visit(path)
    facts = seen.facts
    assert seen.mathjax_loaded, f"MathJax did not start within 20 s (requests to other sites: {seen.external_requests})"
    if _source_has_math(path):
        assert facts["mathCount"] > 0, "the source has maths but the page has no .math elements"
        assert facts["mjxCount"] >= facts["mathCount"], "MathJax did not render every formula"
    assert facts["unrenderedMath"] == [], "formulas left as raw TeX"
    assert facts["mathErrors"] == [], "MathJax reported TeX errors"


@pytest.mark.parametrize("path", PAGES)
def test_no_widget_errors_or_raw_widget_output(visit, path):
    facts = visit(path).facts
    shown = [message for message in WIDGET_MESSAGES if message in facts["bodyText"]]
    assert shown == [], f"widget error text on the page: {shown}"
    raw = WIDGET_REPR.findall(facts["outputText"])
    assert raw == [], f"widget reprs such as HBox(children=...) printed as text in outputs: {raw}"
    assert "<Figure size" not in facts["outputText"], "a Matplotlib figure printed as text instead of drawn"
    assert facts["widgetScripts"] == 0, (
        "a widget view left without a manager (a blank gap): static_book should replace it"
    )


@pytest.mark.parametrize("path", LECTURES)
def test_lecture_has_colab_badge_and_launch_button(visit, browser_page, base_url, path):
    notebook = f"{path}.ipynb"
    assert (ROOT / notebook).exists()
    expected = _colab_url(notebook)
    links = visit(path).facts["links"]
    badges = [link for link in links if link["href"] == expected and link["img"] == "Open In Colab"]
    launch = [link for link in links if link["href"] == expected and link["img"] == "Colab logo"]
    assert badges, f"no 'Open In Colab' badge linking to {expected}"
    assert launch, f"no Colab launch button linking to {expected}"
    others = {
        link["href"] for link in links if link["href"].startswith("https://colab.research.google.com/github/")
    } - {expected}
    assert others == set(), f"Colab links to other notebooks: {others}"
    badge_images = [img for img in visit(path).facts["images"] if img["alt"] == "Open In Colab"]
    assert badge_images and all(img["loaded"] for img in badge_images)

    browser_page.goto(urljoin(base_url, f"{path}.html"), wait_until="load")
    browser_page.click('button[aria-label="Launch interactive content"]')
    launch_item = browser_page.locator(f'a.dropdown-item[href="{expected}"]')
    launch_item.wait_for(state="visible")
    assert launch_item.get_attribute("target") == "_blank"


def test_navigation_reaches_every_lecture(visit, base_url):
    root = visit(PAGES[0])
    sidebar = [urlparse(href).path.lstrip("/").removesuffix(".html") for href in root.facts["navLinks"]]
    assert [page for page in sidebar if page in LECTURES] == LECTURES, "the sidebar must list every lecture, in order"
    sequence, url = [PAGES[0]], root.facts["next"]
    while url and len(sequence) <= len(PAGES):
        sequence.append(urlparse(url).path.lstrip("/").removesuffix(".html"))
        url = visit(sequence[-1]).facts["next"]
    assert sequence == PAGES, "following 'next' from the front page must visit every page of _toc.yml in order"


def test_front_page_redirects_to_the_introduction(browser_page, base_url):
    browser_page.goto(base_url, wait_until="load")
    browser_page.wait_for_url(re.compile(re.escape(PAGES[0]) + r"\.html$"))


@pytest.mark.parametrize("path", LECTURES)
def test_lecture_page_shows_exercises_without_solutions(visit, path):
    facts = visit(path).facts
    text = facts["bodyText"]
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, "a solution is shown on the page"
    assert "NotImplementedError" in text, "the exercises should show the student's stub"
    verdicts = re.findall(r"Exercise \d+\.\d+: (?:correct|not yet)", facts["outputText"])
    assert verdicts == [], f"verdicts the reader did not earn: {verdicts}"
    downloads = [
        link["href"]
        for link in facts["links"]
        if "_sources/" in link["href"]
        or (link["href"].endswith(".ipynb") and "colab.research.google.com" not in link["href"])
    ]
    assert downloads == [], f"links that serve the solved notebook: {downloads}"
