"""Printed text that reads well in a notebook: lines wrapped at word boundaries.

JupyterLab's output area breaks a long line anywhere, inside words too (``word-break: break-all``). With its
13 px monospace font about 100 characters fit the notebook in a 1,280-pixel-wide window with the file browser
open, so the series prints no line longer than ``WIDTH`` (``tests/test_notebook_outputs.py`` checks the committed
outputs).
"""

from __future__ import annotations

import textwrap

WIDTH = 100


def wrap(text: str, width: int = WIDTH, first: str = "", rest: str | None = None) -> str:
    """``text`` with each of its lines wrapped at word boundaries to ``width`` characters.

    ``first`` starts the first line, ``rest`` (default: as many spaces) the following ones. Words longer than a
    line stay whole; existing line breaks are kept.
    """
    rest = " " * len(first) if rest is None else rest
    lines = []
    for i, line in enumerate(text.splitlines() or [""]):
        lines.append(textwrap.fill(line, width, initial_indent=first if i == 0 else rest, subsequent_indent=rest,
                                   break_long_words=False, break_on_hyphens=False) or (first if i == 0 else ""))
    return "\n".join(lines)
