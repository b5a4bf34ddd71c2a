"""The notebooks' pages render as written in JupyterLab, and open without showing as modified.

Markdown: every markdown cell is parsed with markdown-it-py (CommonMark, plus GFM tables as JupyterLab has them).
JupyterLab renders with `marked` (GFM), which is laxer than CommonMark about where a block may start: inside a list
item it reads the text line by line, so a wrapped line that begins with ``1000. `` or ``0. `` starts an ordered
list (drawn in letters when nested: "at ALL.") in the middle of a sentence. CommonMark keeps such a line in the
paragraph, so the tests look at both: the blocks CommonMark builds, and every line a paragraph was wrapped onto
(at the top level of a cell marked agrees with CommonMark, but the same paragraph breaks once moved into a list,
so the line rule holds everywhere). Checked against JupyterLab 4.6.6's own renderer in Chromium: all markdown cells
of the notebooks give the same lists, quotes, strikes and table cells in both.

Checked per notebook:
- no wrapped paragraph line starts like a block (``12. ``, ``3) ``, ``- ``, ``+ ``, ``* ``, ``#``, ``>``, a code
  fence, an HTML tag, a setext underline ``---``/``===``);
- no ordered list starts at another number than 1 or is numbered otherwise than 1, 2, 3, …, and no list starts
  straight under a paragraph line (no blank line between) unless that line introduces it (ends with ``:``, or is
  a bold label such as ``**What you will learn**``);
- no heading, quote, code fence or rule straight under a paragraph line; no setext headings; no raw HTML (
  JupyterLab's sanitizer drops some of it) but the one box the lessons use for detail a reader may skip:
  ``<details>`` + ``<summary><b>Under the hood</b> (optional): …</summary>``, Markdown, ``</details>``, each tag
  on lines of its own (``details``, ``summary`` and ``b`` are on JupyterLab's list of allowed tags);
- no pair of single tildes that marked strikes through (``~1.5~``), no table row with more cells than its header
  (GFM drops the extra ones);
- every relative link and image resolves to a file of this repository; a link to a notebook (``NN-name.ipynb``,
  optionally ``#anchor``) names one that exists, and its anchor is a heading id there. JupyterLab's heading id is
  the heading's text content with each space replaced by ``-`` (``createHeaderId`` in @jupyterlab/rendermime:
  ``textContent.replace(/ /g, '-')``), case and punctuation kept. Web links are not fetched.

Metadata: see the tests at the end of this file.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]-*.ipynb"))

# CommonMark with raw HTML recognised (so it can be reported), plus GFM tables, which JupyterLab renders.
MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

# A line that marked may take as the start of a block when a paragraph is wrapped onto it.
BLOCK_START = re.compile(
    r"""(?x)
    \d{1,9}[.)](?:\s|$)        # ordered list item, any number (marked, unlike CommonMark)
    | [-+*](?:\s|$)            # bullet list item (or a thematic break)
    | \#{1,6}(?:\s|$)          # ATX heading
    | >                        # blockquote
    | `{3,} | ~{3,}            # code fence
    | </?[A-Za-z!?]            # HTML block
    | (?:=+|-+)\s*$            # setext heading underline
    """
)
NOTEBOOK_LINK = re.compile(r"\d\d-[^/]*\.ipynb")


@dataclass
class Cell:
    notebook: str
    index: int
    id: str
    source: str

    def where(self, line: int | None = None) -> str:
        at = f"{self.notebook} cell {self.index} (id {self.id})"
        if line is None:
            return at
        return f"{at} line {line + 1}: {self.source.splitlines()[line]!r}"


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def markdown_cells(path: Path) -> list[Cell]:
    notebook = load(path)
    return [Cell(path.name, i, cell.get("id", "?"), "".join(cell["source"]))
            for i, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "markdown"]


def heading_ids(path: Path) -> list[str]:
    """The ids JupyterLab gives the headings of a notebook: text content, spaces → ``-``."""
    ids = []
    for cell in markdown_cells(path):
        tokens = MARKDOWN.parse(cell.source)
        for opening, inline in zip(tokens, tokens[1:], strict=False):
            if opening.type == "heading_open":
                ids.append(text_content(inline).replace(" ", "-"))
    return ids


def text_content(inline: Token) -> str:
    """What the DOM's ``textContent`` of the rendered inline token is (images have none)."""
    parts = []
    for child in inline.children or []:
        if child.type in ("text", "text_special", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
    return "".join(parts)


def walk(tokens: list[Token]) -> list[Token]:
    """Every token, inline children included, in document order."""
    flat = []
    for token in tokens:
        flat.append(token)
        flat.extend(token.children or [])
    return flat


UNDER_THE_HOOD = re.compile(r"<details>\n<summary><b>Under the hood</b> \(optional\): [^<>\n]+</summary>|</details>")


def layout_problems(cell: Cell) -> list[str]:
    """Blocks that a wrapped sentence started by accident, setext headings, raw HTML, tilde pairs, table rows."""
    problems = []
    tokens = MARKDOWN.parse(cell.source)
    lines = cell.source.splitlines()
    for i, token in enumerate(tokens):
        if token.type == "paragraph_open":
            inline = tokens[i + 1]
            for k, text in enumerate(inline.content.split("\n")[1:], start=1):
                if BLOCK_START.match(text.lstrip()):
                    problems.append(f"{cell.where(token.map[0] + k)}: a wrapped line starts like a block "
                                    "(marked makes it a list, heading, quote …): rewrap the paragraph")
        elif token.type == "ordered_list_open":
            items = [t for t in tokens[i:] if t.type == "list_item_open" and t.level == token.level + 1]
            items = items[:count_items(tokens, i)]
            numbers = [int(t.info) for t in items]
            if numbers[0] != 1 or numbers != list(range(1, len(numbers) + 1)):
                problems.append(f"{cell.where(token.map[0])}: ordered list numbered {numbers}, "
                                "not 1, 2, 3, … (an accident of wrapping, or it renders other numbers)")
        elif token.type == "heading_open" and token.markup in ("=", "-"):
            problems.append(f"{cell.where(token.map[1] - 1)}: setext heading (an underline of '{token.markup}')")
        elif token.type == "html_block" and not UNDER_THE_HOOD.fullmatch(token.content.strip()):
            problems.append(f"{cell.where(token.map[0])}: raw HTML block")
        elif token.type == "table_open":
            problems.extend(table_problems(cell, tokens, i))
        if token.map and token.nesting == 1 and interrupts_paragraph(tokens, i):
            if token.type not in ("bullet_list_open", "ordered_list_open"):
                problems.append(f"{cell.where(token.map[0])}: a {token.type.removesuffix('_open')} starts right "
                                "under a paragraph line (no blank line between): a wrapped sentence?")
            elif not introduces_list(lines[token.map[0] - 1]):
                problems.append(f"{cell.where(token.map[0])}: a list starts right under a paragraph line that "
                                "does not introduce it (no ':' or bold label): a wrapped sentence?")
        elif token.type in ("fence", "hr") and interrupts_paragraph(tokens, i):
            problems.append(f"{cell.where(token.map[0])}: a {token.type} starts right under a paragraph line")
        if token.type == "inline":
            for child in token.children or []:
                if child.type == "html_inline":
                    problems.append(f"{cell.where(token.map[0])}: inline HTML {child.content!r}")
            for struck in single_tilde_strikes(token):
                problems.append(f"{cell.where(token.map[0])}: '~{struck}~': JupyterLab's marked strikes a pair of "
                                "single tildes through (write 'about', or escape one: \\~)")
    return problems


def single_tilde_strikes(inline: Token) -> list[str]:
    """The texts between single tildes that marked renders struck through (``<del>``).

    marked pairs single ``~`` by the flanking rules CommonMark has for ``*``, so every lone ``~`` of the plain text
    (code spans left out) is handed to CommonMark as a ``*``: each emphasis it finds is a strike in JupyterLab.
    """
    text = "".join(child.content if child.type == "text" else "\x00" for child in inline.children or [])
    if "~" not in text:
        return []
    hidden = {"*": "\x01", "_": "\x02", "~~": "\x03\x03"}
    for char, placeholder in hidden.items():
        text = text.replace(char, placeholder)
    children = MARKDOWN.parseInline(text.replace("~", "*"))[0].children or []
    struck = [children[i + 1].content for i, child in enumerate(children) if child.type == "em_open"]
    for char, placeholder in hidden.items():
        struck = [s.replace(placeholder, char) for s in struck]
    return struck


def count_items(tokens: list[Token], opening: int) -> int:
    """How many items the list opened at ``tokens[opening]`` has (nested lists not counted)."""
    level, count = tokens[opening].level, 0
    for token in tokens[opening + 1:]:
        if token.level == level and token.type.endswith("_list_close"):
            return count
        if token.type == "list_item_open" and token.level == level + 1:
            count += 1
    return count


def interrupts_paragraph(tokens: list[Token], i: int) -> bool:
    """Whether the block opened at ``tokens[i]`` starts on the line right after a paragraph at its level."""
    token = tokens[i]
    for j in range(i - 1, -1, -1):
        if tokens[j].level < token.level:  # the parent: the block is its first child
            return False
        if tokens[j].level == token.level:  # the block before it, in the same parent
            if tokens[j].type != "paragraph_close":
                return False
            opening = next(t for t in reversed(tokens[:j]) if t.type == "paragraph_open" and t.level == token.level)
            return opening.map[1] == token.map[0]
    return False


def introduces_list(line: str) -> bool:
    line = line.rstrip()
    return line.endswith(":") or bool(re.fullmatch(r"\s*\*\*[^*]+\*\*", line))


def table_problems(cell: Cell, tokens: list[Token], opening: int) -> list[str]:
    lines = cell.source.splitlines()
    start, end = tokens[opening].map
    header = split_row(lines[start])
    return [f"{cell.where(n)}: {len(split_row(lines[n]))} cells in a table of {len(header)} columns "
            "(GFM drops the extra ones)"
            for n in range(start + 2, end) if len(split_row(lines[n])) > len(header)]


def split_row(line: str) -> list[str]:
    """A GFM table row's cells: split on pipes that are not escaped (inside code spans too, as GFM does)."""
    cells = re.split(r"(?<!\\)\|", line.strip())
    if cells and cells[0].strip() == "":
        cells = cells[1:]
    if cells and cells[-1].strip() == "":
        cells = cells[:-1]
    return cells


def link_problems(cell: Cell, own_path: Path) -> list[str]:
    """Links and images that do not resolve in this repository."""
    problems = []
    for token in walk(MARKDOWN.parse(cell.source)):
        if token.type == "link_open":
            kind, target = "link", token.attrGet("href")
        elif token.type == "image":
            kind, target = "image", token.attrGet("src")
        else:
            continue
        target = str(target)
        parts = urlsplit(target)
        where = f"{cell.where()}: {kind} {target!r}"
        if parts.scheme in ("http", "https", "mailto"):
            continue  # not fetched here
        if parts.scheme == "attachment":
            if unquote(parts.path) not in load(own_path)["cells"][cell.index].get("attachments", {}):
                problems.append(f"{where}: no such attachment in the cell")
            continue
        if parts.scheme or parts.netloc or target.startswith("/"):
            problems.append(f"{where}: not a relative link (JupyterLab resolves it against the server root)")
            continue
        path = (own_path.parent / unquote(parts.path)).resolve() if parts.path else own_path
        if not path.is_relative_to(ROOT):
            problems.append(f"{where}: points outside the repository")
        elif not path.exists():
            problems.append(f"{where}: {path.relative_to(ROOT)} does not exist")
        elif kind == "link" and parts.path and path.suffix == ".ipynb" and not NOTEBOOK_LINK.fullmatch(path.name):
            problems.append(f"{where}: not one of the numbered notebooks")
        elif kind == "link" and parts.fragment and path.suffix == ".ipynb":
            anchor = unquote(parts.fragment)
            if anchor not in heading_ids(path):
                problems.append(f"{where}: no heading with id {anchor!r} in {path.name} "
                                "(JupyterLab's id is the heading text with spaces as '-')")
    return problems


def notebook_ids(paths: list[Path]) -> list[str]:
    return [path.stem for path in paths]


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 8, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_ids(NOTEBOOKS))
def test_markdown_renders_as_written(path: Path) -> None:
    problems = [p for cell in markdown_cells(path) for p in layout_problems(cell)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_ids(NOTEBOOKS))
def test_links_and_images_resolve(path: Path) -> None:
    problems = [p for cell in markdown_cells(path) for p in link_problems(cell, path)]
    assert not problems, "\n".join(problems)


# -- The checks catch what they are meant to ------------------------------------------------------------------
# The first cases are what JupyterLab 4.6.6 was seen to render wrongly in Chromium (its own markdown renderer,
# marked): the ordered lists started at 1000, 0 and 2, and the '~1.5~' strike.

def problems_in(source: str) -> list[str]:
    return layout_problems(Cell("x.ipynb", 0, "c0", source))


@pytest.mark.parametrize("source", [
    "1. Compare at 100 and at\n   1000. Why is that?\n2. next\n",    # 02's exercise: JupyterLab shows "ALL."
    "- at distance\n  0. It does not ignore width\n- next\n",         # 02's 'What you see': a list from 0
    "1. item wrapped at\n   2) x\n",
    "- a sum of\n  + two terms\n",
    "Between ~1.5~ and more\n",
    "A sentence wrapped at\n2. a number\n",   # fine in JupyterLab at top level, wrong once inside a list item
    "A sentence wrapped at\n3) a number\n",
    "A sum of\n+ two terms\n",
    "A sentence about\n# hashes\n",
    "A sentence about\n> quoting\n",
    "- a sentence about\n  # hashes\n",
    "Text\n---\n",
    "A sentence wrapped at\n1. one\n",
    "3. a list that starts at three\n",
    "1. one\n3. three\n",
    "Some <b>bold</b> text\n",
    "<div>\nblock\n</div>\n",
    "<details>\n<summary>Show more</summary>\n\nText\n\n</details>\n",            # not the box's own summary
    "<details><summary><b>Under the hood</b> (optional): x</summary>\n\nText\n\n</details>\n",  # tags on one line
    "| a | b |\n|---|---|\n| 1 | 2 | 3 |\n",
])
def test_render_surprises_are_caught(source: str) -> None:
    assert problems_in(source), source


@pytest.mark.parametrize("source", [
    "**What you will learn**\n- one\n- two\n",
    "There are two knobs:\n- one\n- two\n",
    "1. one\n2. two\n   wrapped on\n3. three\n",
    "A sentence wrapped at 1000.\nThe next one.\n",
    "About ~10–~20 s, or ~10 s to ~20 s\n",     # JupyterLab strikes none of these through
    "About 10~20 s, or ~~struck~~, or `~a~`\n",
    "| a | b |\n|---|---|\n| `x \\| y` | 2 |\n",
    "<details>\n<summary><b>Under the hood</b> (optional): the cache</summary>\n\nText\n\n</details>\n",
])
def test_ordinary_markdown_passes(source: str) -> None:
    assert not problems_in(source), problems_in(source)


@pytest.mark.parametrize(("heading", "jupyterlab_id"), [  # ids read from the DOM of JupyterLab 4.6.6
    ("## 6. `search_k`: how many *candidates* a query inspects", "6.-search_k:-how-many-candidates-a-query-inspects"),
    ("### Annoy's `\"dot\"` index in 1.17.3 is broken", "Annoy's-\"dot\"-index-in-1.17.3-is-broken"),
    ("## 02 · Similar digits: MNIST & co", "02-·-Similar-digits:-MNIST-&-co"),
])
def test_heading_ids_follow_jupyterlab(heading: str, jupyterlab_id: str) -> None:
    tokens = MARKDOWN.parse(heading + "\n")
    assert text_content(tokens[1]).replace(" ", "-") == jupyterlab_id


def test_broken_links_are_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "notebooks").mkdir()
    target = tmp_path / "notebooks" / "01-b.ipynb"
    target.write_text(json.dumps({"cells": [{"cell_type": "markdown", "id": "c0", "metadata": {},
                                             "source": ["## 2. Build an index\n"]}]}), encoding="utf-8")
    (tmp_path / "README.md").write_text("# readme\n", encoding="utf-8")
    own = tmp_path / "notebooks" / "00-a.ipynb"
    own.write_text(json.dumps({"cells": [{"cell_type": "markdown", "id": "c0", "metadata": {}, "source": []}]}),
                   encoding="utf-8")
    good = "[a](01-b.ipynb) [b](01-b.ipynb#2.-Build-an-index) [c](../README.md) [d](https://example.org/x)"
    bad = ("[a](02-c.ipynb) [b](01-b.ipynb#Build-an-index) [c](../READ.md) [d](/notebooks/01-b.ipynb) "
           "![e](../figures/x.png) [f](../../outside.md) ![g](attachment:x.png)")
    assert link_problems(Cell(own.name, 0, "c0", good), own) == []
    assert len(link_problems(Cell(own.name, 0, "c0", bad), own)) == 7


# -- Metadata: the notebooks open unmodified -------------------------------------------------------------------
# JupyterLab marks a notebook modified as soon as its kernel answers kernel_info: it writes the kernel's whole
# `language_info` (name, version, mimetype, codemirror_mode, pygments_lexer, nbconvert_exporter, file_extension)
# into the notebook's metadata, and only a deep-equal value leaves the model clean. The committed files had
# {"name", "version"} only, so every tab showed the unsaved dot. The committed value is therefore exactly what
# ipykernel reports on the Python the committed outputs were made with; on any other Python version (3.12, 3.13,
# another 3.11 patch release) the version differs and JupyterLab still shows the dot: no file can avoid that.

REFERENCE_PYTHON = "3.11.7"  # the Python of the committed outputs (notebook 00 prints it); update with a rerun
ALLOWED_METADATA = {"kernelspec", "language_info"}  # anything else is tooling residue (it was jupytext's)


def expected_language_info() -> dict:
    from ipykernel.ipkernel import IPythonKernel

    info = json.loads(json.dumps(IPythonKernel.language_info))  # what kernel_info_reply carries, as JSON
    return {**info, "version": REFERENCE_PYTHON}


def expected_kernelspec() -> dict:
    from ipykernel.kernelspec import KERNEL_NAME, get_kernel_dict

    spec = get_kernel_dict()
    return {"display_name": spec["display_name"], "language": spec["language"], "name": KERNEL_NAME}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_ids(NOTEBOOKS))
def test_metadata_opens_clean_in_jupyterlab(path: Path) -> None:
    metadata = load(path)["metadata"]
    assert metadata.get("language_info") == expected_language_info(), (
        f"{path.name}: metadata.language_info must be exactly what ipykernel reports on Python {REFERENCE_PYTHON} "
        f"({expected_language_info()}); anything else makes JupyterLab mark the notebook modified on open")
    assert metadata.get("kernelspec") == expected_kernelspec(), (
        f"{path.name}: metadata.kernelspec must be {expected_kernelspec()} (JupyterLab rewrites any other)")
    extra = set(metadata) - ALLOWED_METADATA
    assert not extra, f"{path.name}: stray top-level metadata {sorted(extra)}"


def test_reference_python_is_the_one_of_the_outputs() -> None:
    """Notebook 00's environment check printed the Python that made the committed outputs."""
    outputs = "".join("".join(out.get("text", "")) for cell in load(NOTEBOOKS[0])["cells"]
                      for out in cell.get("outputs", []))
    assert f"Python {REFERENCE_PYTHON};" in outputs, f"{NOTEBOOKS[0].name} was not run on Python {REFERENCE_PYTHON}"
