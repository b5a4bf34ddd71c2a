"""Every number the notebooks' prose states comes from a run or from a named source.

In each markdown cell, every decimal number (0.9645, 1.5) and every number with a unit (562 s, 85 MB, 72 %, 8.0×,
4,983 QPS) must either appear in that notebook's code or printed outputs (at the precision the prose prints it:
"0.72" is matched by an output 0.7201; "about 180 MB" by 177, rounded to the tens the prose gives), or sit on a
line that says where it comes from: a link, a named source (the article, CS231n, ann-benchmarks, a paper, a
library's source file, the FAISS wiki, the run-time tool `tools/run_notebooks.py`), or another notebook, the
README or the results page, whose own text must then hold the number. Version numbers, math and code blocks are not claims about a
run. A failure names the notebook, the cell and the number.

The results page's table (notebooks/results.md) is held the same way: every such number in its "this series"
column must be printed by
the notebook the row names ("(07)", "08:"), or by some notebook when it names none; a bracket that cites another
source is left out. A row about a run the tests do not make (an opt-in tier whose output is not committed) says
so by naming its switch, and is left out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
RESULTS = ROOT / "notebooks" / "results.md"
RESULTS_HEADING = "## The numbers"

UNITS = r"(?:s|ms|µs|MB|GB|KB|kB|%|×|x|QPS|queries/s|minutes?|min|seconds?|hours?|bytes|GFLOP/s|TFLOP)"
NUMBER = re.compile(r"(?<![\w.,/-])(?P<about>(?:about|some|nearly|~)\s(?:\*\*)?)?(?P<whole>\d{1,3}(?:,\d{3})+|\d+)"
                    r"(?P<frac>\.\d+)?(?P<unit>\s?" + UNITS + r")?(?![\w])")
VERSION = re.compile(r"(Python|Annoy|Chainer|NumPy|hnswlib|FAISS|Voyager|setuptools|GCC|clang|Sphinx|version|v)\s*$",
                     re.I)
EXTERNAL = re.compile(r"https?://|\]\(|\barticle\b|Qiita|CS231n|ann-benchmarks|et al\.|\.h\b|\.cpp\b|FAISS wiki"
                      r"|run_notebooks", re.I)
OTHER_NOTEBOOK = re.compile(r"\bnotebook (\d\d)\b|\b(\d\d)'s\b")
READING_TIME = re.compile(r"\*\*Time:\*\* about \d+ minutes")
SHARED_UNIT = re.compile(r"(\d[\d,]*(?:\.\d+)?)(?=(?:\s*/\s*\d[\d,]*(?:\.\d+)?)+\s?(" + UNITS + r")(?!\w))")
OPT_IN = re.compile(r"ANN_TUTORIAL_MILLION")  # switches of runs whose outputs are not committed


def evidence(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"\d+(?:,\d{3})*(?:\.\d+)?", text)]


def run_text(notebook: dict) -> str:
    """A notebook's code and everything its code cells printed."""
    parts = []
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            parts.append("".join(cell["source"]))
            for output in cell.get("outputs", []):
                parts.append("".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def prose_lines(markdown: str) -> list[str]:
    """The markdown's lines without fenced code and math."""
    markdown = re.sub(r"```.*?```", "", markdown, flags=re.S)
    markdown = re.sub(r"\$\$.*?\$\$", "", markdown, flags=re.S)
    return re.sub(r"\$[^$\n]+\$", "", markdown).splitlines()


def supported(match: re.Match, values: list[float]) -> bool:
    whole, frac, unit = match["whole"].replace(",", ""), match["frac"] or "", match["unit"] or ""
    value = float(whole + frac)
    decimals = len(frac) - 1 if frac else 0
    step = 10.0 ** -decimals
    if match["about"] and not frac:  # "about 180": rounded to its last non-zero digit
        step = 10.0 ** (len(whole) - len(whole.rstrip("0")))
    scales = (1.0, 100.0) if "%" in unit else (1.0,)  # 72 % is printed as 0.72, or as 72
    return any(abs(round(v * scale / step) * step - value) < step / 1000 for v in values for scale in scales)


def unsupported(notebook_path: Path, notebook: dict, others: dict[str, str], readme: str) -> list[str]:
    own = evidence(run_text(notebook))
    problems = []
    for number, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for line in prose_lines("".join(cell["source"])):
            if EXTERNAL.search(line):
                continue
            line_evidence = list(own)
            for named in OTHER_NOTEBOOK.finditer(line):
                line_evidence += evidence(others.get(named[1] or named[2], ""))
            if "README" in line or "results page" in line:
                line_evidence += evidence(readme)
            line = READING_TIME.sub("", line)
            for match in NUMBER.finditer(line):
                if checkable(match, line) and not supported(match, line_evidence):
                    problems.append(f"{notebook_path.name}, cell {number}: {match.group(0).strip()!r} in "
                                    f"{line.strip()[:100]!r}")
    return problems


def checkable(match: re.Match, line: str) -> bool:
    """A decimal or a number with a unit, and not a version."""
    before, after = line[:match.start("whole")], line[match.end():]
    return bool(match["frac"] or match["unit"]) and not VERSION.search(before) and not re.match(r"\.\d|\+", after)


def results_rows(results: str) -> list[tuple[str, str]]:
    """(what, this series) for each row of the results page's table."""
    table = results.split(RESULTS_HEADING, 1)[1].split("\n\n")[1]
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table.splitlines()]
    return [(row[0], row[1]) for row in rows[2:]]


def unsupported_results(results: str, runs: dict[str, str]) -> list[str]:
    problems = []
    for what, ours in results_rows(results):
        if OPT_IN.search(what):
            continue
        named = re.search(r"\((\d\d)\)|^(\d\d):", what)
        values = evidence(runs[named[1] or named[2]] if named else "\n".join(runs.values()))
        claimed = re.sub(r"\([^()]*\)", lambda m: "" if EXTERNAL.search(m[0]) else m[0], ours)
        claimed = SHARED_UNIT.sub(r"\1 \2", claimed)  # "9,000 / 1,372 QPS": both are QPS
        for match in NUMBER.finditer(claimed):
            if checkable(match, claimed) and not supported(match, values):
                problems.append(f"results page, {what[:60]!r}: {match.group(0).strip()!r}")
    return problems


@pytest.fixture(scope="module")
def series() -> tuple[dict[Path, dict], dict[str, str], str]:
    """Every notebook (read once for all of this module's tests), each one's run text by number, and the text of
    the README and the results page, which the notebooks' prose may cite."""
    notebooks = {p: json.loads(p.read_text()) for p in NOTEBOOKS}
    others = {p.name[:2]: run_text(nb) for p, nb in notebooks.items()}
    return notebooks, others, (ROOT / "README.md").read_text() + "\n" + RESULTS.read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_number_in_the_prose_comes_from_a_run_or_a_named_source(series: tuple, path: Path) -> None:
    notebooks, others, readme = series
    problems = unsupported(path, notebooks[path], others, readme)
    assert not problems, "numbers in the prose that no output or named source shows:\n" + "\n".join(problems)


def lesson(markdown: str, printed: str) -> dict:
    return {"cells": [{"cell_type": "markdown", "source": [markdown]},
                      {"cell_type": "code", "source": ["print(recall)"],
                       "outputs": [{"output_type": "stream", "name": "stdout", "text": [printed]}]}]}


@pytest.mark.parametrize("markdown, printed, flagged", [
    ("Recall reaches 0.987 here.", "recall@10 0.9871\n", []),             # printed, at the prose's precision
    ("Recall reaches 0.991 here.", "recall@10 0.9871\n", ["'0.991'"]),    # invented
    ("It took 12.5 s.", "done in 12.5 s\n", []),
    ("It took 13 s.", "done in 12.5 s\n", ["'13 s'"]),                    # 12.5 rounds to 12 or 13? no guessing
    ("The file takes about 180 MB.", "index: 177 MB\n", []),              # "about": to the tens it gives
    ("The file takes about 200 MB.", "index: 177 MB\n", []),              # (to the hundreds)
    ("The file takes about 190 MB.", "index: 177 MB\n", ["'about 190 MB'"]),
    ("Accuracy 72 % here.", "0.7201\n", []),
    ("The article reports 0.9645.", "0.9657\n", []),                      # a named source on the line
    ("Python 3.12+ and Annoy 1.17.3.", "\n", []),                         # versions
    ("10 trees and 50,000 items.", "\n", []),                             # counts
])
def test_the_check_catches_an_invented_number(tmp_path: Path, markdown: str, printed: str, flagged: list[str]) -> None:
    found = unsupported(tmp_path / "99-example.ipynb", lesson(markdown, printed), {}, "")
    assert [f.split(": ", 1)[1].split(" in ")[0] for f in found] == flagged


def test_every_number_in_the_results_page_comes_from_the_notebook_it_names(series: tuple) -> None:
    _, others, _ = series
    problems = unsupported_results(RESULTS.read_text(), others)
    assert not problems, "results that no notebook prints:\n" + "\n".join(problems)


def test_the_results_check_catches_an_invented_number() -> None:
    results = (f"{RESULTS_HEADING}\n\n| | this series | the article |\n| --- | --- | --- |\n"
              "| accuracy (02) | **0.9657** (CS231n: 0.354) | 0.9645 |\n| speed (07) | 9,000 / 9,151 QPS | — |\n"
              "| `ANN_TUTORIAL_MILLION=1`: a million | 0.698 | — |\n\nafter")
    runs = {"02": "accuracy 0.9657", "07": "9,000 QPS, 9,152 QPS, 1,372 QPS"}
    assert unsupported_results(results, runs) == ["results page, 'speed (07)': '9,151 QPS'"]
    assert unsupported_results(results.replace("9,000 / 9,151", "9,001 / 9,152"), runs) == [
        "results page, 'speed (07)': '9,001 QPS'"]  # a number in a list shares the list's unit
