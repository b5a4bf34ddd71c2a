"""Run notebooks top to bottom, the way a learner does, and say how long each took: quick mode's check.

nbval (the README's test command) compares every notebook with its committed outputs, which are full mode's. Quick
mode computes other numbers, so it is checked here instead: each notebook is executed in a fresh kernel, its own
assertions (every notebook has quick-mode bounds) must hold, and nothing is written back to the notebook.

    python tools/run_notebooks.py --quick notebooks/*.ipynb

``--quick`` switches quick mode on from *inside* each notebook, with a first cell ``%env ANN_TUTORIAL_QUICK=1``, as
a learner does in Jupyter on any operating system (notebook 08's Dask workers inherit it when the cluster starts).
``--quick-from-shell`` sets it in the kernel's environment instead, as ``ANN_TUTORIAL_QUICK=1 jupyter lab`` (Linux,
macOS) or ``$env:ANN_TUTORIAL_QUICK = "1"`` (PowerShell) do. ``--twice`` runs each notebook a second time, to time
a rerun with the cache warm. ``--save DIR`` keeps each executed notebook in DIR, to read what it printed.

The cache is wherever ``ANN_TUTORIAL_CACHE`` points (default ``cache/``; quick mode's files are named
``*-quick.*``): point it at an empty folder to time a first run. Exit status 1 when a notebook fails; the failing
cell and its error are printed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

QUICK_ENV = "ANN_TUTORIAL_QUICK"  # helpers.config.QUICK_ENV (not imported: this script runs no helpers code)
CELL_TIMEOUT = 1500  # seconds, as pytest.ini gives nbval


def run(path: Path, quick_cell: bool, env: dict[str, str], save: Path | None, label: str,
        cell_timeout: float = CELL_TIMEOUT) -> float:
    """Execute the notebook at ``path`` in a new kernel with environment ``env`` (working directory: the notebook's
    folder); its wall-clock seconds. The notebook's file is not changed."""
    notebook = nbformat.read(path, as_version=4)
    if quick_cell:
        notebook.cells.insert(0, nbformat.v4.new_code_cell(f"%env {QUICK_ENV}=1"))
    client = NotebookClient(notebook, timeout=cell_timeout, kernel_name="python3",
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],  # not its TCP warning
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute(env=env)
    finally:
        if save is not None:
            save.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, save / f"{path.stem}.{label.replace(' ', '-')}.ipynb")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--quick", action="store_true", help="quick mode, switched on by a first cell %%env")
    how.add_argument("--quick-from-shell", action="store_true", help="quick mode, from the kernel's environment")
    parser.add_argument("--twice", action="store_true", help="run each notebook again (a rerun, cache warm)")
    parser.add_argument("--save", type=Path, help="a folder for the executed notebooks")
    parser.add_argument("--cell-timeout", type=float, default=CELL_TIMEOUT,
                        help=f"seconds a cell may take (default {CELL_TIMEOUT}); a notebook with a cell that takes "
                             "longer is run again from the top once, and fails if it happens again")
    args = parser.parse_args(argv)

    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    env = {name: value for name, value in os.environ.items() if name != QUICK_ENV}  # the option decides the mode
    mode = "full mode"
    if args.quick_from_shell:
        env[QUICK_ENV] = "1"  # as `ANN_TUTORIAL_QUICK=1 jupyter lab` gives it to every kernel
        mode = "quick mode (environment)"
    elif args.quick:
        mode = "quick mode (%env in the notebook)"
    print(f"running {len(args.notebooks)} notebook(s) in {mode}; cache: {os.environ.get('ANN_TUTORIAL_CACHE', 'cache/')}",
          flush=True)

    times: list[tuple[str, list[float]]] = []
    for path in args.notebooks:
        runs = []
        for label in ("first run", "rerun")[:2 if args.twice else 1]:
            print(f"{path.name}: {label} ...", flush=True)
            try:
                try:
                    runs.append(run(path.resolve(), args.quick, env, args.save, label, args.cell_timeout))
                except CellTimeoutError:  # a cell that hangs, or a kernel's reply that never came: one more try
                    print(f"{path.name}: {label}: a cell had no answer from its kernel within {args.cell_timeout:.0f} "
                          "s; running the notebook again from the top, once", flush=True)
                    runs.append(run(path.resolve(), args.quick, env, args.save, label, args.cell_timeout))
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
                plain = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # the traceback without its terminal colours
                print(f"FAILED {path.name} ({label}):\n{plain}", file=sys.stderr, flush=True)
                return 1
            print(f"{path.name}: {label} {runs[-1]:.0f} s", flush=True)
        times.append((path.name, runs))

    print(f"\n{'notebook':<36} {'first run':>10}" + (f" {'rerun':>8}" if args.twice else ""))
    for name, runs in times:
        print(f"{name:<36}" + "".join(f" {s:>9.0f}s" for s in runs))
    print(f"{'total':<36}" + "".join(f" {sum(r[i] for _, r in times):>9.0f}s" for i in range(len(times[0][1]))))
    print(f"all {len(times)} notebook(s) ran to the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
