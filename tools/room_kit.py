"""Make a room kit: one folder with everything a workshop's laptops need to install and run the series offline.

    .venv/bin/python tools/room_kit.py room-kit/        # on the instructor's machine, with a network

It writes, into ``room-kit/``:

- ``mnist/``, ``cifar-10/``, ``SHA256SUMS``: the datasets, fetched and verified as ``helpers.datasets --export``
  writes them (so the folder is also a dataset mirror);
- ``wheels/``: every package the README's install needs, for each Python and system asked for: binary wheels
  where the package index has them, and the source archives of the three packages that are built on install
  (Annoy, hnswlib, Chainer: a C++ compiler is still needed for the first two);
- ``cache/``: notebook 06's trained network and its embeddings, with their fingerprints, from this machine's cache
  (run notebook 06 first, in each mode the room will use);
- ``project.zip``: this project's files (those git tracks, and new files it does not ignore);
- ``README.txt``: what the kit holds, what it does not cover (packages without a wheel for a Python or system),
  and the commands a learner runs.

Learners point ``ANN_TUTORIAL_MIRROR`` at the kit: the datasets come from it, and notebook 06 takes the kit's
network only if its fingerprint is the one that run would train (same data, settings and code), saying so
(``helpers.cache.import_from_room_kit``); otherwise it trains. ``PIP_NO_INDEX=1`` and ``PIP_FIND_LINKS`` make the
README's install read the kit's wheels instead of the network.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from helpers import cache, config, datasets  # noqa: E402

PYTHONS = ("3.11", "3.12", "3.13", "3.14", "3.15")
"""The Pythons the series supports (README: Python 3.11 to 3.15)."""
SYSTEMS = {
    "linux": [f"manylinux_2_{minor}_x86_64" for minor in range(17, 29)] + ["manylinux2014_x86_64"],
    "macos-arm64": ["macosx_14_0_arm64"],  # pip adds the older macOS versions and universal2 itself
    "macos-x86_64": ["macosx_15_0_x86_64"],  # FAISS 1.15.1's Intel-Mac wheels are made for macOS 15
    "windows": ["win_amd64"],
}
"""Each system's platform tags, as ``pip download --platform`` takes them: x86-64 Linux (wheels made for glibc
2.17 to 2.28, so a laptop needs 2.28 or newer), Apple-silicon Macs (macOS 14 or newer), Intel Macs (macOS 15 or
newer), 64-bit Windows."""
COMPILED_ON_INSTALL = ("annoy", "hnswlib", "chainer")
"""Packages that publish only a source archive: the kit holds it, and the learner's machine builds it (Annoy and
hnswlib are C++)."""
SETUP_REQUIRES = {"annoy": ["nose>=1.0"]}
"""What those packages' ``setup.py`` has setuptools fetch while it builds (``setup_requires``; Annoy 1.17.3's
asks for nose): with no network it must be in the kit too."""
NETWORK_FILES = ("cnn-cifar10.npz", "cnn-cifar10-train.npy", "cnn-cifar10-test.npy")
"""Notebook 06's trained weights and the embeddings of the training and test images (full mode's names)."""
REQUIREMENT_FILES = ("requirements.txt",)


@dataclass
class Target:
    python: str
    system: str
    missing: list[str] = field(default_factory=list)
    """Requirements the package index has no wheel of for this Python and system (not in the kit)."""


def requirements(python: str, system: str, files: tuple[str, ...] = REQUIREMENT_FILES) -> list[str]:
    """The install's requirements (``-r`` followed, ``-e .`` left out) that apply to ``python`` on ``system``, their
    markers evaluated there, without the packages built on install but with what those need at run time."""
    environment = default_environment() | {
        "python_version": python, "python_full_version": f"{python}.0", "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": {"linux": "linux", "windows": "win32"}.get(system, "darwin"),
        "platform_system": {"linux": "Linux", "windows": "Windows"}.get(system, "Darwin"),
        "os_name": "nt" if system == "windows" else "posix",
    }
    found: list[str] = []
    lines = _requirement_lines(files)
    pinned = {Requirement(line).name.lower() for line in lines}
    for line in lines:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        if requirement.name.lower() in COMPILED_ON_INSTALL:
            needs = _run_time_needs(requirement.name, environment) + SETUP_REQUIRES.get(requirement.name.lower(), [])
            found += [need for need in needs if Requirement(need).name.lower() not in pinned]
            continue
        requirement.marker = None
        found.append(str(requirement))
    return list(dict.fromkeys(found))


def _requirement_lines(files: tuple[str, ...]) -> list[str]:
    lines = []
    for name in files:
        for raw in (PROJECT / name).read_text().splitlines():
            line = raw.split(" #")[0].strip()
            if not line or line.startswith("#") or line.startswith("-e"):
                continue
            if line.startswith("-r"):
                lines += _requirement_lines((line.removeprefix("-r").strip(),))
            else:
                lines.append(line)
    return lines


def _run_time_needs(package: str, environment: dict[str, str]) -> list[str]:
    """What an installed package needs at run time (its metadata, extras left out), here without markers."""
    needs = []
    for text in importlib.metadata.requires(package) or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate(environment | {"extra": ""}):
            requirement.marker = None
            needs.append(str(requirement))
    return needs


def download_wheels(target: Target, wheels: Path, log=print) -> None:
    """``pip download`` the wheels of ``target``'s requirements into ``wheels``. A requirement that has no wheel
    for that Python and system (or needs a package that has none) is left out and recorded in ``target.missing``;
    the rest is downloaded without it."""
    wanted = requirements(target.python, target.system)
    listing = wheels.parent / f".requirements-{target.python}-{target.system}.txt"
    while True:
        listing.write_text("\n".join(wanted) + "\n")
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(wheels), "--only-binary=:all:",
                   "--implementation", "cp", "--python-version", target.python, "-r", str(listing)]
        for tag in SYSTEMS[target.system]:
            command += ["--platform", tag]
        result = subprocess.run(command, capture_output=True, text=True)
        listing.unlink()
        if result.returncode == 0:
            return
        found = re.search(r"No matching distribution found for (\S+)", result.stderr)
        lacking = Requirement(found.group(1)).name.lower() if found else None
        dropped = [w for w in wanted if lacking is not None and _needs(w, lacking)]
        if not dropped:
            last = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
            raise RuntimeError(f"pip download for Python {target.python} on {target.system} failed: {last}")
        for requirement in dropped:
            why = "no wheel" if Requirement(requirement).name.lower() == lacking else f"needs {found.group(1)}: no wheel"
            log(f"  Python {target.python}, {target.system}: {requirement} left out ({why} for it)")
            target.missing.append(f"{requirement} ({why})")
            wanted.remove(requirement)


def _needs(requirement: str, dependency: str) -> bool:
    """Whether ``requirement`` is ``dependency`` or, as installed here, depends on it, directly or further down."""
    seen, todo = set(), [Requirement(requirement).name]
    while todo:
        name = todo.pop().lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            needs = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in needs:
            if "extra ==" not in text:
                todo.append(Requirement(text).name)
    return dependency in seen


def download_sources(wheels: Path) -> None:
    """The source archives of the packages built on install, at the versions requirements.txt pins."""
    pins = [line for line in _requirement_lines(REQUIREMENT_FILES)
            if Requirement(line).name.lower() in COMPILED_ON_INSTALL]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(wheels), "--no-deps",
                    "--no-binary=:all:", "--no-build-isolation", *pins], check=True)


def copy_network(kit: Path, log=print) -> list[str]:
    """Copy notebook 06's trained weights and embeddings (each mode's that this cache holds and that pass the
    cache's checks) with their fingerprints into ``kit/cache``; returns the names copied."""
    copied = []
    (kit / config.ROOM_KIT_CACHE).mkdir(parents=True, exist_ok=True)
    for name in NETWORK_FILES:
        for mode_name in (name, name.replace(".", "-quick.", 1)):
            path = config.CACHE_DIR / mode_name
            fingerprint = cache.read_fingerprint(path)
            if fingerprint is None or cache.why_not_reusable(path, fingerprint) is not None:
                continue
            for file in (path, cache.sidecar(path)):
                shutil.copyfile(file, kit / config.ROOM_KIT_CACHE / file.name)
            copied.append(mode_name)
    if not copied:
        raise FileNotFoundError(f"no trained network of notebook 06 in {config.CACHE_DIR}: run notebook 06 first "
                                "(in full mode, and in quick mode too if the room will use it)")
    log(f"network: {', '.join(copied)} copied with their fingerprints")
    return copied


def zip_project(kit: Path) -> int:
    """``project.zip``: the files git tracks and the new ones it does not ignore (a learner's copy of the project)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=PROJECT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    files = [name for name in listed if name and (PROJECT / name).is_file()]
    with zipfile.ZipFile(kit / "project.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for name in files:
            archive.write(PROJECT / name, f"ann-tutorial/{name}")
    return len(files)


def readme_block(marker: str) -> list[str]:
    """The lines of the code block that follows ``<!-- marker -->`` in README.md: the commands the README shows."""
    after = (PROJECT / "README.md").read_text().split(f"<!-- {marker} -->", 1)[1]
    return after.split("```", 2)[1].split("\n", 1)[1].strip().splitlines()


def write_readme(kit: Path, targets: list[Target], network: list[str]) -> None:
    """``README.txt``: what the kit holds and covers, and the README's own commands, pointed at the kit."""
    pythons = {system: [t.python for t in targets if t.system == system] for system in {t.system: 0 for t in targets}}
    covered = "\n".join(f"      Python {t.python} on {t.system}: " + ("every package" if not t.missing else
                         "all but " + "; ".join(t.missing) + ": not in the kit") for t in targets)
    files = "\n".join(f"                                   {name}" for name in network) or "      none"
    sections = []
    unix = [system for system in pythons if system != "windows"]
    if unix:
        versions = sorted({python for system in unix for python in pythons[system]})
        label = ", ".join(dict.fromkeys("Linux" if system == "linux" else "macOS" for system in unix))
        sections.append(f"{label}, with python3 being Python {' or '.join(versions)} (or write python{versions[-1]} "
                        "in its place):\n  export PIP_NO_INDEX=1 PIP_FIND_LINKS=\"KIT/wheels\" ANN_TUTORIAL_MIRROR=\"KIT\"\n"
                        + "\n".join("  " + line for line in readme_block("run-command")))
    if "windows" in pythons:
        version = pythons["windows"][-1]
        lines = [re.sub(r"^py -3\.\d+", f"py -{version}", line) for line in readme_block("run-command-powershell")]
        sections.append(f"Windows (PowerShell), with Python {' or '.join(pythons['windows'])} (py -{version} below):\n"
                        '  $env:PIP_NO_INDEX = "1"; $env:PIP_FIND_LINKS = "KIT\\wheels"; $env:ANN_TUTORIAL_MIRROR = "KIT"\n'
                        + "\n".join("  " + line for line in lines))
    install = "\n\n".join(sections)
    text = f"""Room kit of the Annoy similar-image search series, made {time.strftime('%Y-%m-%d')}.

What it holds
  mnist/, cifar-10/, SHA256SUMS    the datasets (verified)
  wheels/                          the packages the install needs, for these Pythons and systems:
{covered}
                                   and the source archives of {', '.join(COMPILED_ON_INSTALL)}, built on
                                   install: every laptop needs a C++ compiler (notebooks/setup.md in the project)
  cache/                           notebook 06's trained network and embeddings:
{files}
  project.zip                      the notebooks and their helpers

Install and run with no network
Use a Python and a system listed above with every package: with another, or where a package is left out, pip
stops at "No matching distribution found" and installs nothing (install with a network there). Linux means x86-64
with glibc 2.28 or newer; macOS 14 or newer on Apple silicon, 15 or newer on Intel. Unzip project.zip, go into its
folder ann-tutorial/, and run the README's command with pip and the notebooks pointed at the kit: KIT below is
this folder's full path.

{install}

The settings hold in that terminal only. To start JupyterLab again later, set ANN_TUTORIAL_MIRROR first (the
datasets are in Chainer's cache by then, but notebook 06 takes the kit's network only through it). Notebook 06
takes the kit's network only if it is the one it would train itself (same data, settings and code), and prints
"room kit: took cnn-cifar10.npz from ..."; otherwise it says what differs, and trains.
"""
    (kit / "README.txt").write_text(text)


def make(kit: Path, pythons: list[str], systems: list[str], with_network: bool = True, log=print) -> list[Target]:
    """Write the whole kit into ``kit``; returns the targets with what each misses."""
    start = time.monotonic()
    kit.mkdir(parents=True, exist_ok=True)
    datasets.export_mirror(kit, log=log)
    network = copy_network(kit, log) if with_network else []
    wheels = kit / "wheels"
    wheels.mkdir(exist_ok=True)
    targets = [Target(python, system) for system in systems for python in pythons]
    for number, target in enumerate(targets, 1):
        log(f"wheels {number}/{len(targets)}: Python {target.python}, {target.system}")
        download_wheels(target, wheels, log)
    download_sources(wheels)
    files = zip_project(kit)
    write_readme(kit, targets, network)
    size = sum(f.stat().st_size for f in kit.rglob("*") if f.is_file())
    log(f"room kit written to {kit}: {len(list(wheels.iterdir()))} packages in wheels/, {files} project files, "
        f"{size / 1e6:,.0f} MB in all, in {time.monotonic() - start:,.0f} s; see {kit / 'README.txt'}")
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kit", type=Path, help="the folder to write (created if needed)")
    parser.add_argument("--pythons", default=",".join(PYTHONS), help=f"default: {','.join(PYTHONS)}")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=f"any of {', '.join(SYSTEMS)} (default: all)")
    parser.add_argument("--without-network", action="store_true",
                        help="leave notebook 06's network out (learners then train it themselves)")
    args = parser.parse_args(argv)
    pythons, systems = args.pythons.split(","), args.systems.split(",")
    unknown = [p for p in pythons if p not in PYTHONS] + [s for s in systems if s not in SYSTEMS]
    if unknown:
        parser.error(f"not supported: {', '.join(unknown)}")
    try:
        make(args.kit, pythons, systems, with_network=not args.without_network)
    except (FileNotFoundError, RuntimeError, subprocess.CalledProcessError, datasets.DatasetUnavailableError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
