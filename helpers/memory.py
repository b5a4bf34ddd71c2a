"""How much memory a process uses, read from Linux's ``/proc``: resident, proportional and shared pages.

- **RSS** counts every page a process has in RAM, shared or not: two processes that map the same 77 MB file
  both show it.
- **PSS** (proportional set size) splits each shared page between the processes that map it: the PSS of all
  processes adds up to the RAM they really use. Linux reports both in ``/proc/<pid>/smaps_rollup`` (4.14+).
- **Anonymous** memory (``RssAnon``) is what only swap could free; **file-backed** pages (``RssFile``, a
  memory-mapped index among them) can be dropped and read again from the file.

Elsewhere (macOS, Windows) these files do not exist: the functions return ``None`` and the notebook says so.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class MemoryUse:
    """One process's memory, in megabytes (10^6 bytes)."""

    pid: int
    rss_mb: float
    pss_mb: float
    shared_mb: float   # pages this process shares with at least one other (clean + dirty)
    private_mb: float  # pages only this process maps


def _megabytes(text: str, fields: tuple[str, ...]) -> dict[str, float]:
    """The named ``/proc`` fields of ``text`` (given there in KiB), in megabytes."""
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in fields:
            values[name] = int(rest.split()[0]) * 1024 / 1e6
    return values


def memory_use(pid: int | None = None) -> MemoryUse | None:
    """RSS, PSS, shared and private memory of process ``pid`` (default: this one); ``None`` off Linux."""
    pid = os.getpid() if pid is None else pid
    path = Path(f"/proc/{pid}/smaps_rollup")
    if not path.exists():
        return None
    fields = ("Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty")
    mb = _megabytes(path.read_text(), fields)
    return MemoryUse(pid, mb["Rss"], mb["Pss"], mb["Shared_Clean"] + mb["Shared_Dirty"],
                     mb["Private_Clean"] + mb["Private_Dirty"])


def resident_mb() -> dict[str, float] | None:
    """This process's resident anonymous and file-backed memory now (``RssAnon``, ``RssFile``); ``None`` off Linux."""
    path = Path("/proc/self/status")
    if not path.exists():
        return None
    mb = _megabytes(path.read_text(), ("RssAnon", "RssFile"))
    return {"anonymous": mb["RssAnon"], "file": mb["RssFile"]}


def peak_while(run: Callable[[], T], every: float = 0.01) -> tuple[T, dict[str, float] | None]:
    """Run ``run()`` and sample ``resident_mb`` every ``every`` seconds meanwhile: its result, and the peak rise.

    The peak is the largest rise over the values just before ``run`` started, for anonymous and for
    file-backed memory apart (``None`` off Linux). Sampling sees what the process holds while code that releases
    the GIL (Annoy's ``build``) runs; a spike shorter than ``every`` can be missed.
    """
    start = resident_mb()
    if start is None:
        return run(), None
    peak = dict(start)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            now = resident_mb() or start
            for key in peak:
                peak[key] = max(peak[key], now[key])
            time.sleep(every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = run()
    finally:
        done.set()
        sampler.join()
    return result, {key: peak[key] - start[key] for key in peak}


def mapped_files(name_part: str) -> dict[str, dict[str, float]] | None:
    """The files this process maps now whose path contains ``name_part``: {file name: {"mapped": MB, "resident":
    MB}}, a replaced or removed file named as Linux names it, with " (deleted)" (notebook 09). ``None`` off Linux."""
    path = Path("/proc/self/smaps")
    if not path.exists():
        return None
    files: dict[str, dict[str, float]] = {}
    current = None
    for line in path.read_text().splitlines():
        head = line.split(maxsplit=5)
        if len(head) >= 5 and "-" in head[0] and ":" not in head[0]:  # a mapping's first line: its address range
            current = None
            if len(head) == 6 and name_part in head[5]:
                current = files.setdefault(Path(head[5].removesuffix(" (deleted)")).name
                                           + (" (deleted)" if head[5].endswith(" (deleted)") else ""),
                                           {"mapped": 0.0, "resident": 0.0})
        elif current is not None:
            mb = _megabytes(line, ("Size", "Rss"))
            current["mapped"] += mb.get("Size", 0.0)
            current["resident"] += mb.get("Rss", 0.0)
    return files
