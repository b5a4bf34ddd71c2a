"""Run the code cells of a notebook that define some names, in a fresh namespace: tests and benchmarks use the
code a lesson shows, not a copy of it."""

from __future__ import annotations

import json
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
DEFINING = (("def", "("), ("class", "("), ("class", ":"))


def define(notebook: str, *groups: tuple[str, ...], namespace: dict | None = None, setup: bool = False) -> dict:
    """For each group of names, run the one code cell of ``notebook`` that defines them all (``def name(``,
    ``class name(`` or ``class name:``), in order, in ``namespace`` (a new one by default); return the namespace.
    ``setup``: first run the notebook's first code cell (its imports and settings)."""
    path = NOTEBOOKS / notebook
    sources = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    namespace = {} if namespace is None else namespace
    if setup:
        exec(compile(sources[0], str(path), "exec"), namespace)
    for names in groups:
        found = [s for s in sources if all(any(f"{kind} {n}{end}" in s for kind, end in DEFINING) for n in names)]
        assert len(found) == 1, f"expected one cell of {path.name} defining {names}, found {len(found)}"
        exec(compile(found[0], str(path), "exec"), namespace)
    return namespace
