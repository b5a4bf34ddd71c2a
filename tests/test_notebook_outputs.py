"""The committed notebook outputs read well in JupyterLab: no printed line that the output area breaks mid-word,
and no widget that would need its kernel.

JupyterLab's output area wraps long lines anywhere, inside words too; ``helpers.text`` says why ``WIDTH``
characters is the limit, and wraps longer text at word boundaries where it is printed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import config
from helpers.text import WIDTH

NOTEBOOKS = sorted((config.PROJECT_ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def text_outputs(cell: dict) -> list[str]:
    """The text a code cell shows: its streams and plain-text results (not the alt text of figures)."""
    texts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            texts.append("".join(output["text"]))
        elif output["output_type"] in ("execute_result", "display_data") and "image/png" not in output["data"]:
            texts.append("".join(output["data"].get("text/plain", "")))
    return texts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_printed_lines_fit_the_output_area(path: Path) -> None:
    cells = json.loads(path.read_text())["cells"]
    too_long = [f"cell {i} ({len(line)} characters): {line[:60]}…"
                for i, cell in enumerate(cells) if cell["cell_type"] == "code"
                for text in text_outputs(cell) for line in text.splitlines() if len(line) > WIDTH]
    assert not too_long, f"{path.name}: lines JupyterLab would break mid-word:\n" + "\n".join(too_long)


def test_the_check_finds_a_long_line() -> None:
    cell = {"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stdout", "text": ["x" * 101]}]}
    assert [len(t) for t in text_outputs(cell)] == [101]


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_widget_is_committed_without_its_kernel(path: Path) -> None:
    """An explorer's widget lives in a running kernel; a committed view of it (its state is not committed, see
    test_notebook_pages' metadata test) would open in JupyterLab as "Error displaying widget: model not found"."""
    cells = json.loads(path.read_text())["cells"]
    views = [i for i, cell in enumerate(cells) if cell["cell_type"] == "code"
             for output in cell.get("outputs", []) if WIDGET_VIEW in output.get("data", {})]
    assert not views, f"{path.name}: widget views in the outputs of cells {views}: commit those cells without output"
