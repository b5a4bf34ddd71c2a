"""Notebook 01's explorer as a learner meets it: JupyterLab on loopback, the notebook in Chromium, a slider moved.

JupyterLab (the README's ``jupyter lab``, from this environment) serves a folder on 127.0.0.1 with a token, and
Debian's Chromium, driven by Playwright, opens a copy of notebook 01 cut to the cells the explorer needs: every code
cell up to the explorer's, without the one that reads MNIST (it needs the datasets and adds a quarter of a minute;
the explorer draws the 2-D index). It runs them from JupyterLab's Run menu, waits for the slider and its first
picture, presses the slider's End key as a learner would, and checks that the readout and the picture change.
The page may ask nothing of another host: every request off 127.0.0.1 is blocked and fails the test, so the widgets'
JavaScript comes from the installed ``jupyterlab_widgets``, not from a CDN.
Outside CI it skips, saying why, when Chromium or Playwright is missing; in CI (``CI`` set) it fails instead.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import launched, stay_on_this_machine

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "build" / "screenshots"
NOTEBOOK = ROOT / "notebooks" / "01-annoy-basics.ipynb"
EXPLORER = "explorer_2d = widgets.interactive("
LEFT_OUT = "datasets.mnist_arrays()"
# JupyterLab's own calls out, off: its news feed, its update check, and PyPI for the extension manager.
OFFLINE = {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
           "extension_manager": "readonly"}


def explorer_notebook(folder: Path) -> Path:
    """Notebook 01's code cells up to the explorer's, without the MNIST cell, outputs cleared; markdown left out."""
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    cells = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code" or LEFT_OUT in "".join(cell["source"]):
            continue
        cells.append({**cell, "outputs": [], "execution_count": None})
        if EXPLORER in "".join(cell["source"]):
            break
    else:
        raise AssertionError(f"no cell of {NOTEBOOK.name} makes the explorer ({EXPLORER!r})")
    path = folder / "explorer.ipynb"
    path.write_text(json.dumps({**notebook, "cells": cells}), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """JupyterLab serving a folder with the explorer's notebook; yields the notebook's URL (with the token)."""
    folder = tmp_path_factory.mktemp("lab")
    explorer_notebook(folder)
    port, token = free_port(), secrets.token_hex(16)
    config = folder / ".config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(json.dumps({"LabApp": OFFLINE}), encoding="utf-8")
    environment = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_RUNTIME_DIR": str(folder / ".runtime")}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={folder}", f"--LabApp.workspaces_dir={folder / '.workspaces'}"]
    if os.geteuid() == 0:  # CI runs as root, which JupyterLab refuses unless told
        command.append("--allow-root")
    server = subprocess.Popen(command, cwd=folder, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        wait_for_port(port, server)
        yield f"http://127.0.0.1:{port}/lab/tree/explorer.ipynb?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def wait_for_port(port: int, server: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"JupyterLab stopped (exit {server.returncode}):\n{server.stdout.read()[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError(f"JupyterLab did not listen on port {port} within {seconds:.0f} s")


def test_the_explorer_redraws_when_its_slider_moves(jupyterlab: str) -> None:
    events: list[str] = []
    with launched() as chromium:
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda e: events.append(f"script error: {e}"))
        page.route("**/*", stay_on_this_machine(events))
        try:
            moved, errors = move_the_slider(page, jupyterlab)
        except Exception as error:  # a timeout says little: show what the page showed
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "jupyterlab-explorer.png"), full_page=True)
            outputs = "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())[-3000:]
            raise AssertionError(f"{error}\nevents: {events}\noutputs on the page:\n{outputs}\n"
                                 f"(screenshot: {SCREENSHOTS / 'jupyterlab-explorer.png'})") from None
    assert moved.strip() == "100", moved
    assert not [e for e in errors if "Error" in e or "Traceback" in e], errors
    assert not events, "\n".join(events)


def move_the_slider(page, url: str) -> tuple[str, list[str]]:
    """Run the notebook from the Run menu once its kernel is idle (accepting the kernel JupyterLab offers, if it
    asks), wait for the explorer's first picture, press End on its slider and wait
    for another picture; return the slider's readout then and the page's error outputs."""
    page.goto(url)
    page.locator(".jp-Notebook").wait_for(timeout=120_000)
    page.locator(".jp-StatusBar-Widget", has_text="Idle").first.wait_for(timeout=120_000)  # the kernel has started
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()

    slider = page.locator(".widget-slider").first
    choose = page.locator(".jp-Dialog .jp-mod-accept", has_text="Select")  # "Select Kernel", if JupyterLab asks
    slider.or_(choose).first.wait_for(timeout=120_000)
    if choose.is_visible():
        choose.click()  # Python 3, as offered
    slider.wait_for(timeout=120_000)
    picture = page.locator(".widget-output img").first
    picture.wait_for(timeout=60_000)
    readout, first = slider.locator(".widget-readout").inner_text(), picture.get_attribute("src")
    assert readout.strip() == "10", readout

    slider.locator(".noUi-handle").first.focus()
    page.keyboard.press("End")  # the slider's largest value, as a learner's keyboard gives it
    page.wait_for_function(
        """first => {
             const img = document.querySelector('.widget-output img');
             return img !== null && img.getAttribute('src') !== first;
           }""", arg=first, timeout=60_000)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    return slider.locator(".widget-readout").inner_text(), errors
