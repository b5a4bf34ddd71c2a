"""tools/room_kit.py: what the kit asks pip for, per Python and system, and what it does when a wheel is missing.

The downloads themselves need the package index: CI's room-kit rehearsal (.ci/room-kit) makes a real kit and
installs from it with no network. Here pip is replaced by a stand-in that answers as pip does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from helpers import cache

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import room_kit  # noqa: E402  (a script in tools/, not a package)


def names(requirements: list[str]) -> dict[str, str]:
    return {Requirement(r).name.lower(): str(Requirement(r).specifier) for r in requirements}


@pytest.mark.parametrize("python, system, numpy", [
    ("3.11", "linux", "==1.26.4"), ("3.12", "windows", "==1.26.4"), ("3.13", "macos-arm64", "==2.5.5"),
    ("3.15", "linux", "==2.5.5"),
])
def test_requirements_are_those_of_the_target_python(python: str, system: str, numpy: str) -> None:
    wanted = names(room_kit.requirements(python, system))
    assert wanted["numpy"] == numpy  # the requirement file's marker, evaluated for the target, not for this Python
    assert not set(room_kit.COMPILED_ON_INSTALL) & set(wanted)  # those come as source archives
    assert {"protobuf", "filelock", "six", "nose"} <= set(wanted)  # Chainer's run-time needs, Annoy's setup_requires
    assert {"jupyterlab", "faiss-cpu", "voyager", "setuptools", "pytest"} <= set(wanted)
    assert not any(";" in r for r in room_kit.requirements(python, system))  # markers evaluated, none left


class FakePip:
    """``pip download`` that has no wheel of some packages: records each requirement list it was given."""

    def __init__(self, no_wheel: set[str]) -> None:
        self.no_wheel, self.calls = no_wheel, []

    def __call__(self, command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        listing = Path(command[command.index("-r") + 1]).read_text().split()
        self.calls.append(names(listing))
        lacking = [r for r in listing if Requirement(r).name.lower() in self.no_wheel]
        if lacking:
            return subprocess.CompletedProcess(command, 1, "", f"ERROR: No matching distribution found for "
                                                               f"{lacking[0]}\n")
        return subprocess.CompletedProcess(command, 0, "", "")


def test_a_package_without_a_wheel_is_left_out_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pip = FakePip({"voyager"})
    monkeypatch.setattr(subprocess, "run", pip)
    target, log = room_kit.Target("3.15", "linux"), []
    room_kit.download_wheels(target, tmp_path / "wheels", log.append)
    assert target.missing == ["voyager==2.2.3 (no wheel)"]
    assert "voyager" in pip.calls[0] and "voyager" not in pip.calls[-1] and len(pip.calls) == 2
    assert log == ["  Python 3.15, linux: voyager==2.2.3 left out (no wheel for it)"]


def test_a_dependency_without_a_wheel_leaves_out_what_needs_it(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    class DependencyLacking(FakePip):  # pip names the dependency it cannot find, not the requirement
        def __call__(self, command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
            listing = Path(command[command.index("-r") + 1]).read_text().split()
            self.calls.append(names(listing))
            if any(Requirement(r).name.lower() == "matplotlib" for r in listing):
                return subprocess.CompletedProcess(command, 1, "", "No matching distribution found for kiwisolver>=1.3.1")
            return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", DependencyLacking(set()))
    target = room_kit.Target("3.14", "linux")
    room_kit.download_wheels(target, tmp_path / "wheels", lambda line: None)
    assert target.missing == ["matplotlib==3.11.2 (needs kiwisolver>=1.3.1: no wheel)"]


def test_another_pip_failure_is_an_error_not_a_gap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: subprocess.CompletedProcess(
        command, 1, "", "ERROR: HTTP error 503 while getting https://example.invalid/x.whl\n"))
    with pytest.raises(RuntimeError, match="Python 3.11 on windows failed: ERROR: HTTP error 503"):
        room_kit.download_wheels(room_kit.Target("3.11", "windows"), tmp_path / "wheels", print)


def test_the_network_is_copied_only_when_it_passes_the_caches_checks(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("helpers.config.CACHE_DIR", tmp_path / "cache")
    kit = tmp_path / "kit"
    with pytest.raises(FileNotFoundError, match="run notebook 06 first"):
        room_kit.copy_network(kit, print)
    for name in room_kit.NETWORK_FILES:
        cache.save(tmp_path / "cache" / name, {"model": name}, lambda tmp: tmp.write_bytes(b"weights"))
    (tmp_path / "cache" / "cnn-cifar10-test.npy").write_bytes(b"cut")  # no longer what its fingerprint says
    copied = room_kit.copy_network(kit, lambda line: None)
    assert copied == ["cnn-cifar10.npz", "cnn-cifar10-train.npy"]
    assert json.loads((kit / "cache" / "cnn-cifar10.npz.json").read_text())["fingerprint"] == {"model":
                                                                                                 "cnn-cifar10.npz"}
    assert not (kit / "cache" / "cnn-cifar10-test.npy").exists()


def test_the_kits_readme_shows_the_readmes_own_commands_for_what_it_covers(tmp_path: Path) -> None:
    targets = [room_kit.Target("3.11", "linux"), room_kit.Target("3.15", "linux", ["voyager==2.2.3 (no wheel)"])]
    room_kit.write_readme(tmp_path, targets, ["cnn-cifar10.npz"])
    text = (tmp_path / "README.txt").read_text()
    assert room_kit.readme_block("run-command")[0] in text
    assert "Linux, with python3 being Python 3.11 or 3.15 (or write python3.15 in its place)" in text
    assert "PowerShell" not in text  # no Windows wheels in this kit: no Windows commands either
    assert "Python 3.11 on linux: every package" in text
    assert "Python 3.15 on linux: all but voyager==2.2.3 (no wheel): not in the kit" in text
    room_kit.write_readme(tmp_path, [room_kit.Target("3.12", "windows")], [])
    text = (tmp_path / "README.txt").read_text()
    assert "py -3.12 -m venv .venv" in text and "Linux, macOS" not in text
    assert all(line in text for line in room_kit.readme_block("run-command-powershell")[1:])
