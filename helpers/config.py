"""Where things live and which mode the notebooks run in."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIGURES_DIR = PROJECT_ROOT / "figures"
CACHE_DIR = Path(os.environ.get("ANN_TUTORIAL_CACHE", PROJECT_ROOT / "cache"))
"""Built indexes and cached results (git-ignored); override with ANN_TUTORIAL_CACHE."""

SEED = 42
"""One seed for every random choice in the series."""

QUICK_ENV = "ANN_TUTORIAL_QUICK"
QUICK_TRAIN, QUICK_TEST = 10_000, 1_000
"""Quick mode keeps this many training and test images (a fixed, seeded subset)."""
FULL_SWEEP_ENV = "ANN_TUTORIAL_FULL_SWEEP"
MIRROR_ENV = "ANN_TUTORIAL_MIRROR"
ROOM_KIT_CACHE = "cache"
"""The folder of a room kit (a mirror folder) that holds trained artefacts to import: notebook 06's network."""


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def quick_mode() -> bool:
    """True when ANN_TUTORIAL_QUICK=1: notebooks use a fixed, seeded subset of the data."""
    return _flag(QUICK_ENV)


def full_sweep() -> bool:
    """True when ANN_TUTORIAL_FULL_SWEEP=1: notebook 04 runs its full-size sweep."""
    return _flag(FULL_SWEEP_ENV)


def mirror_from_env() -> Path | None:
    """The mirror folder (or room kit) named by ANN_TUTORIAL_MIRROR, if set."""
    value = os.environ.get(MIRROR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def mode_file_name(path: Path) -> Path:
    """``path`` in full mode; ``<stem>-quick<suffix>`` beside it in quick mode, so the modes never share a file."""
    return path.with_name(f"{path.stem}-quick{path.suffix}") if quick_mode() else path


def figure_path(name: str) -> Path:
    """Path of a figure in figures/, creating the folder if needed.

    Quick mode writes ``<name>-quick.png`` (git-ignored), so it never overwrites the full-mode figures.
    """
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    return mode_file_name(FIGURES_DIR / name)


def mode_message(full: str, quick_expectation: str) -> str:
    """The line a notebook prints first: which mode is on, and in quick mode what numbers to expect."""
    if quick_mode():
        return (f"QUICK MODE is on ({QUICK_ENV}=1): {QUICK_TRAIN:,} training and {QUICK_TEST:,} test images, "
                f"a fixed seeded subset.\nExpect {quick_expectation}")
    return f"Full mode: {full}"
