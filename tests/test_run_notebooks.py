"""tools/run_notebooks.py, and quick mode switched on each way a learner can.

The Modes page (notebooks/running.md) offers three ways to switch quick mode on: ``ANN_TUTORIAL_QUICK=1`` in the
shell before starting Jupyter (Linux, macOS), ``$env:ANN_TUTORIAL_QUICK = "1"`` in PowerShell (the same thing: a variable in the
environment Jupyter's kernels inherit), and ``%env ANN_TUTORIAL_QUICK=1`` in a notebook's first cell. A tiny
notebook, run in a real kernel by the tool CI uses for quick mode, reports what the kernel and a Dask worker it
starts (as notebook 08 does) see each way. CI runs every lesson in quick mode with the same tool.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import run_notebooks  # noqa: E402  (a script in tools/, not a package)

PROBE = """\
from distributed import Client, LocalCluster
from helpers import config
with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                  dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
    on_worker = list(client.run(config.quick_mode).values())
print("kernel", config.quick_mode(), "worker", on_worker[0])
"""


def probe_notebook(folder: Path, source: str = PROBE) -> Path:
    path = folder / "probe.ipynb"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import helpers"), nbformat.v4.new_code_cell(source)]
    nbformat.write(notebook, path)
    return path


def one_cell_notebook(folder: Path, source: str) -> Path:
    """A notebook of one plain cell (no helpers to import: its time is the cell's own)."""
    path = folder / "probe.ipynb"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(notebook, path)
    return path


def printed(saved: Path) -> str:
    """What the probe cell (the last one) printed."""
    last = nbformat.read(saved, as_version=4).cells[-1]
    return "".join(o.get("text", "") for o in last.outputs if o.get("name") == "stdout")


@pytest.mark.parametrize("how, expected", [([], "kernel False worker False"),
                                           (["--quick"], "kernel True worker True"),
                                           (["--quick-from-shell"], "kernel True worker True")])
def test_quick_mode_reaches_the_kernel_and_its_dask_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str], how: list[str],
                                                           expected: str) -> None:
    monkeypatch.setenv("ANN_TUTORIAL_QUICK", "1")  # a leftover in the shell: the tool's option decides, not this
    path = probe_notebook(tmp_path)
    assert run_notebooks.main([*how, "--save", str(tmp_path / "out"), str(path)]) == 0
    assert printed(tmp_path / "out" / "probe.first-run.ipynb").strip() == expected
    assert "all 1 notebook(s) ran to the end" in capsys.readouterr().out
    assert nbformat.read(path, as_version=4).cells[-1].outputs == []  # the notebook itself is left as it was


def test_a_failing_notebook_fails_the_run_and_says_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = probe_notebook(tmp_path, "assert 1 + 1 == 3, 'arithmetic is broken'")
    assert run_notebooks.main(["--quick", str(path)]) == 1
    err = capsys.readouterr().err
    assert "FAILED probe.ipynb" in err and "arithmetic is broken" in err and "assert 1 + 1 == 3" in err


def test_a_cell_without_an_answer_in_time_runs_the_notebook_again_once(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "first-try"
    path = one_cell_notebook(tmp_path, f"import pathlib, time\nmarker = pathlib.Path({str(marker)!r})\n"
                                       "if not marker.exists():\n    marker.touch()\n    time.sleep(60)\nprint('answered')")
    assert run_notebooks.main(["--cell-timeout", "5", str(path)]) == 0  # the first try times out, the second answers
    out = capsys.readouterr().out
    assert "a cell had no answer from its kernel within 5 s; running the notebook again from the top, once" in out
    assert "all 1 notebook(s) ran to the end" in out


def test_a_cell_that_hangs_twice_fails_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = one_cell_notebook(tmp_path, "import time\ntime.sleep(60)")
    assert run_notebooks.main(["--cell-timeout", "5", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.count("running the notebook again from the top, once") == 1
    assert "FAILED probe.ipynb (first run)" in captured.err


def test_a_missing_notebook_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        run_notebooks.main([str(tmp_path / "nowhere.ipynb")])


def test_the_environment_is_left_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANN_TUTORIAL_QUICK", raising=False)
    run_notebooks.main(["--quick-from-shell", str(probe_notebook(tmp_path, "print(1)"))])
    assert "ANN_TUTORIAL_QUICK" not in os.environ
