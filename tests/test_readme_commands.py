"""The install commands the README and the setup page show: the same steps on every system, in every place.

CI runs the Linux command (README's quick start, `<!-- run-command -->`): its test command and the room kit's
rehearsal install with it. Windows is not in CI, so the PowerShell lines (`<!-- run-command-powershell -->`) are
held to the Linux command here, step for step: create `.venv`, install the build requirements, build the rest with
them, open JupyterLab, with the same requirement files and pip options in the same order. The only differences
allowed are the platforms' own: `python3` against the `py` launcher, `.venv/bin/` against `.venv\\Scripts\\`, and
no `ANNOY_COMPILER_ARGS` (Annoy's ``setup.py`` adds ``-ffast-math`` only where ``os.name != 'nt'``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import room_kit  # noqa: E402  (a script in tools/, not a package)


def steps_of_shell(line: str) -> list[str]:
    """The steps of a `&&` chain, in a form common to both systems."""
    steps = []
    for step in line.split(" && "):
        step = re.sub(r'^ANNOY_COMPILER_ARGS="\$\(.*?\)" ', "", step)  # Linux and macOS only: see the docstring
        steps.append(step.replace(".venv/bin/", ".venv/").replace("python3 -m venv", "PYTHON -m venv"))
    return steps


def steps_of_powershell(lines: list[str]) -> list[str]:
    return [re.sub(r"^py -3\.\d+ -m venv", "PYTHON -m venv", line).replace(".venv\\Scripts\\", ".venv/")
            for line in lines]


def page_block(page: str, language: str) -> list[str]:
    """The first ``language`` code block of a page in notebooks/."""
    text = (ROOT / "notebooks" / page).read_text()
    return text.split(f"```{language}\n", 1)[1].split("```", 1)[0].strip().splitlines()


def test_the_powershell_lines_do_what_the_linux_command_does() -> None:
    linux = steps_of_shell(room_kit.readme_block("run-command")[0])
    windows = steps_of_powershell(room_kit.readme_block("run-command-powershell"))
    assert windows == [step.removesuffix("/") for step in linux]
    assert linux[0] == "PYTHON -m venv .venv" and linux[-1] == ".venv/jupyter lab notebooks/"


def test_the_setup_page_shows_the_readmes_commands() -> None:
    assert page_block("setup.md", "bash") == room_kit.readme_block("run-command")
    assert page_block("setup.md", "powershell") == room_kit.readme_block("run-command-powershell")


def test_the_test_command_installs_what_the_run_command_does_and_the_sites_tools() -> None:
    run, test = room_kit.readme_block("run-command")[0], room_kit.readme_block("test-command")[0]
    assert test == run.replace(" -r requirements.txt && .venv/bin/jupyter lab notebooks/",
                               " -r requirements.txt -r requirements-site.txt && .venv/bin/python -m pytest")


@pytest.mark.parametrize("broken", [
    ".venv\\Scripts\\python -m pip install -r requirements.txt",                       # the build step skipped
    ".venv\\Scripts\\python -m pip install -r requirements-build.txt -r requirements.txt",  # one step, isolated
])
def test_the_check_catches_a_powershell_line_that_differs(broken: str) -> None:
    lines = room_kit.readme_block("run-command-powershell")
    changed = [lines[0], broken, lines[2], lines[3]]
    linux = [step.removesuffix("/") for step in steps_of_shell(room_kit.readme_block("run-command")[0])]
    assert steps_of_powershell(changed) != linux
