"""The website: built strictly from the committed notebooks, then checked as HTML and in a real browser.

The build is the command of notebooks/testing.md ("The website"), ``python -m sphinx -c site -n -W -b html notebooks
OUT`` (every warning an
error), into a temporary folder. Then:
- the notebooks' own metadata: every figure output carries alt text (and the image grids a caption) in its cell's
  metadata, so it survives reruns; every hidden cell is an exercise's solution, tagged to collapse on the site,
  its toggle naming it as its neutral first line does ("# Solution 2" -> "Show solution 2");
- the built HTML, page by page (a failure names the page): every ``<img>`` has alt text of its own (docutils
  puts the file name in ``alt`` when there is none, so that does not count); every internal ``href``
  and ``src`` resolves to a file of the site, and its ``#fragment`` to an id on that page; no path of this
  machine; the lessons in order, each with next/previous links to its neighbours;
- in Chromium, Debian's (or the one ``ANN_TUTORIAL_CHROMIUM`` names) driven by Playwright, never a downloaded
  browser: each page loads with no console error, no failed request and no request to any host but 127.0.0.1;
  every image has loaded (``naturalWidth > 0``) and has alt text of its own; every internal link answers 200;
  math is typeset by MathJax with no TeX error; the page shows as many collapsed solutions as its notebook has
  hidden cells, each closed until its summary is clicked, then open.
Screenshots of two pages go to ``build/screenshots/`` (git-ignored) for a person to look at.

Outside CI the browser tests skip, saying why, when the site's tools (requirements-site.txt) or a Chromium are
missing; in CI (``CI`` set) they fail instead.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.browser import launched, missing, stay_on_this_machine

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
SCREENSHOTS = ROOT / "build" / "screenshots"
SOLUTION = re.compile(r"# Solution (\d+)\b")


def code_cells(path: Path) -> Iterator[tuple[int, dict]]:
    for number, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
        if cell["cell_type"] == "code":
            yield number, cell


# --- the notebooks' metadata -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_output_has_alt_text_in_its_cell(path: Path) -> None:
    for number, cell in code_cells(path):
        if not any("image/png" in output.get("data", {}) for output in cell.get("outputs", [])):
            continue
        options = cell["metadata"].get("mystnb", {})
        alt = options.get("image", {}).get("alt", "")
        assert len(alt.split()) >= 25, f"{path.name} cell {number}: a figure needs alt text saying what it shows"
        source = "".join(cell["source"])
        if "plot_neighbor_grid" in source and "figure_path" in source:  # a neighbour grid the series saves
            assert options.get("figure", {}).get("caption"), f"{path.name} cell {number}: a grid needs a caption"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_hidden_cells_are_solutions_that_collapse_on_the_site(path: Path) -> None:
    for number, cell in code_cells(path):
        hidden = cell["metadata"].get("jupyter", {}).get("source_hidden", False)
        collapsed = "hide-cell" in cell["metadata"].get("tags", [])
        assert hidden == collapsed, f"{path.name} cell {number}: hidden in Jupyter and collapsed on the site, or neither"
        if hidden:
            first = SOLUTION.match("".join(cell["source"]))
            assert first, f"{path.name} cell {number}: a hidden cell starts with '# Solution N'"
            options = cell["metadata"].get("mystnb", {})
            assert options.get("code_prompt_show") == f"Show solution {first[1]}", f"{path.name} cell {number}"
            assert options.get("code_prompt_hide") == f"Hide solution {first[1]}", f"{path.name} cell {number}"


# --- the build ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built from the committed notebooks as notebooks/testing.md builds it, warnings being errors."""
    try:
        import myst_nb  # noqa: F401
        import sphinx  # noqa: F401
    except ImportError as error:
        missing(f"the site's tools are not installed ({error}): .venv/bin/python -m pip install -r requirements-site.txt")
    out = tmp_path_factory.mktemp("site") / "html"
    build = subprocess.run([sys.executable, "-m", "sphinx", "-c", "site", "-n", "-W", "-q",
                            "-b", "html", "notebooks", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert build.returncode == 0, f"sphinx-build failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}"
    return out


def pages(site: Path) -> list[Path]:
    return sorted(site.glob("*.html"))


class Page(HTMLParser):
    """What the checks need from one HTML page: ids, links and sources, images and their alt text."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.images: list[tuple[str, str]] = []
        self.next: str | None = None
        self.previous: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "name" in a:
            self.ids.add(a["name"])
        for name in ("href", "src"):
            if name in a and not (tag == "link" and a.get("rel") in ("canonical", "preconnect")):
                self.links.append(a[name])
        if tag == "img":
            self.images.append((a.get("src", ""), a.get("alt", "").strip()))
        if tag == "a" and "right-next" in a.get("class", "").split():
            self.next = a.get("href")
        if tag == "a" and "left-prev" in a.get("class", "").split():
            self.previous = a.get("href")


@functools.cache
def parsed(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def internal(link: str) -> bool:
    scheme = urlsplit(link).scheme
    return not scheme and not link.startswith("//")


def test_the_site_has_a_page_per_notebook_in_order(site: Path) -> None:
    lessons = [site / f"{path.stem}.html" for path in NOTEBOOKS]
    assert all(page.exists() for page in lessons), [page.name for page in lessons if not page.exists()]
    chain = [site / "index.html", *lessons]
    for before, after in itertools.pairwise(chain):
        assert parsed(before).next == after.name, f"{before.name}: its 'next' link should lead to {after.name}"
        assert parsed(after).previous == before.name, f"{after.name}: its 'previous' link should lead to {before.name}"
    landing = (site / "index.html").read_text(encoding="utf-8")
    front_door = ["Quick start", "PowerShell", "The lessons", "qiita.com/ta7uw/items/1ec226e98cee60f46eba",
                  "qiita.com/ta7uw/items/9301eef7dd74a249d5ea"]
    assert all(text in landing for text in front_door), "the landing page shows the README's front door"
    assert "end of the front door" not in landing and "Run the tests" in landing


def own_alt_text(src: str, alt: str) -> bool:
    """Alt text someone wrote: not empty, and not the file name docutils puts there when there is none."""
    return bool(alt) and alt != src and Path(alt).name != Path(urlsplit(src).path).name


def test_every_image_on_every_page_has_alt_text(site: Path) -> None:
    bare = [(page.name, src) for page in pages(site) for src, alt in parsed(page).images if not own_alt_text(src, alt)]
    assert not bare, f"images without alt text of their own: {bare}"


def test_every_internal_link_resolves(site: Path) -> None:
    broken = []
    for page in pages(site):
        for link in filter(internal, parsed(page).links):
            parts = urlsplit(link)
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append((page.name, link))
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in parsed(target).ids:
                broken.append((page.name, link))
    assert not broken, f"internal links that do not resolve (page, link): {broken}"


def test_no_page_shows_a_path_of_this_machine(site: Path) -> None:
    local = [str(ROOT), str(Path.home()), "/tmp/"]
    found = [(page.name, path) for page in pages(site) for path in local if path in page.read_text(encoding="utf-8")]
    assert not found, f"machine paths on pages: {found}"


# --- in a browser ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The site on a loopback HTTP server, quiet, for as long as the module's tests run."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(site: Path) -> Iterator[object]:
    with launched() as chromium:
        yield chromium


MATH = """async () => {
  const math = document.querySelectorAll('.math');
  if (math.length === 0) return [0, 0, 0];
  await window.MathJax.startup.promise;
  return [math.length, document.querySelectorAll('.math mjx-container').length,
          document.querySelectorAll('mjx-merror').length];
}"""


def test_every_page_in_chromium(site: Path, served: str, browser) -> None:
    problems: list[str] = []
    seen_links: set[str] = set()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for path in pages(site):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        events: list[str] = []
        page.on("console", lambda m, ev=events: ev.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e, ev=events: ev.append(f"script error: {e}"))
        page.on("requestfailed", lambda r, ev=events: ev.append(f"failed request: {r.url} ({r.failure})"))
        page.on("response", lambda r, ev=events: ev.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
        page.route("**/*", stay_on_this_machine(events))
        page.goto(f"{served}/{path.name}", wait_until="networkidle")
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.getAttribute('src'), e.naturalWidth, (e.alt || '').trim()])")
        events += [f"image not loaded: {src}" for src, width, _ in images if width == 0]
        events += [f"image without alt text of its own: {src}" for src, _, alt in images if not own_alt_text(src, alt)]
        total, typeset, errors = page.evaluate(MATH)
        if typeset != total or errors:
            events.append(f"math: {typeset} of {total} typeset, {errors} TeX errors")
        if path.name in ("index.html", "06-similar-images-cnn.html"):  # as a reader first sees them
            page.screenshot(path=str(SCREENSHOTS / f"{path.stem}.png"))
        solutions = page.locator("details.hide").all()
        notebook = ROOT / "notebooks" / f"{path.stem}.ipynb"
        hidden = sum("hide-cell" in cell["metadata"].get("tags", []) for _, cell in code_cells(notebook)) \
            if notebook.exists() else 0
        if len(solutions) != hidden:
            events.append(f"{len(solutions)} collapsed solutions on the page, {hidden} hidden cells in the notebook")
        for details in solutions:
            code = details.locator(".cell_input")
            if details.get_attribute("open") is not None or code.is_visible():
                events.append("a solution is open before its summary is clicked")
            details.locator("summary").click()
            if details.get_attribute("open") is None or not code.is_visible():
                events.append("a solution did not open on click")
        links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        for link in sorted(set(links) - seen_links):
            seen_links.add(link)
            if link.startswith(served) and page.request.get(link.split("#")[0]).status != 200:
                events.append(f"internal link not found: {link}")
        page.close()
        problems += [f"{path.name}: {event}" for event in events]
    assert not problems, "\n".join(problems)
