"""The series' one measurement record, and the tables and picks made from a list of them.

Notebook 04's ``n_trees`` x ``search_k`` sweep and notebook 07's comparison of libraries produce the same record:
one (build setting, search-time knob value) and what it gave. Speeds come from ``evaluation.time_queries`` (one
query at a time, one thread, warm-up, repeats, the median and the slowest and fastest repeat).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

RECORD_VERSION = "Measurement/1"
"""Goes into every cache fingerprint of a list of measurements: a change of fields makes old files stale."""


@dataclasses.dataclass(kw_only=True)
class Measurement:
    """One build setting at one value of its search-time knob, and what it gave (made with keywords only)."""

    library: str  # Annoy, hnswlib, FAISS IVF, FAISS HNSW, FAISS exact, Voyager
    settings: str  # the build settings as text, e.g. "30 trees"
    params: dict  # the same as numbers, e.g. {"n_trees": 30}
    knob: str  # search_k, ef, nprobe ("none" for exact search)
    knob_value: int
    qps: float  # queries per second, one at a time, one thread: the median repeat
    qps_low: float  # the slowest repeat
    qps_high: float  # the fastest repeat
    recall: float  # recall@10 against exact search
    build_seconds: float  # building the structure (Annoy: build(); the others: their one add/build call)
    disk_mb: float  # the saved index file
    add_seconds: float = math.nan  # Annoy only: the Python loop of add_item calls, timed apart from the build
    memory_mb: float = math.nan  # resident memory a new process gains by loading the file
    accuracy: float = math.nan  # 1-NN label accuracy, where the queries have labels
    batch_qps: float = math.nan  # all queries as one batch on every core (one knob value per build)

    @property
    def label(self) -> str:
        return f"{self.library} {self.settings}"

    def ties_with(self, other: Measurement) -> bool:
        """True if the two speeds' repeat ranges overlap: which is faster is inside the noise."""
        return self.qps_low <= other.qps_high and other.qps_low <= self.qps_high


def fastest_at(points: Sequence[Measurement], target: float) -> dict[str, Measurement | None]:
    """For each library, its fastest (median one-thread QPS) point with recall >= ``target``, or None."""
    best: dict[str, Measurement | None] = {}
    for p in points:
        current = best.get(p.library)
        if p.recall >= target and (current is None or p.qps > current.qps):
            best[p.library] = p
        else:
            best.setdefault(p.library, None)
    return best


def ties(points: Sequence[Measurement], best: Measurement, target: float) -> list[Measurement]:
    """The other points of ``best``'s library that reach ``target`` and whose speed ties with it (``ties_with``)."""
    return [p for p in points if p is not best and p.library == best.library and p.recall >= target
            and p.ties_with(best)]


def curves(points: Sequence[Measurement]) -> dict[str, tuple[list[float], list[float]]]:
    """Recall and QPS per build setting, in knob order, for ``plotting.plot_recall_vs_qps``."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    for p in sorted(points, key=lambda p: (p.label, p.knob_value)):
        recalls, qps = out.setdefault(p.label, ([], []))
        recalls.append(p.recall)
        qps.append(p.qps)
    return out


def speed_text(p: Measurement) -> str:
    """``1,234 QPS (1,200-1,260)``: the median and the range of the repeats."""
    return f"{p.qps:,.0f} QPS ({p.qps_low:,.0f}-{p.qps_high:,.0f})"


def format_sweep(points: Sequence[Measurement]) -> str:
    """Notebook 04's table: one line per (n_trees, search_k); measured times come last, unpadded."""
    lines = [f"{'n_trees':>7} {'search_k':>8} {'MB':>5} {'recall@10':>9} {'1-NN acc':>8}  "
             "add + build time, speed (range of 3 repeats)"]
    for p in points:
        lines.append(f"{p.params['n_trees']:>7} {p.knob_value:>8} {p.disk_mb:>5.0f} {p.recall:>9.3f} "
                     f"{p.accuracy:>8.4f}  {p.add_seconds:.1f} s + {p.build_seconds:.1f} s, {speed_text(p)}")
    return "\n".join(lines)


def format_points(points: Sequence[Measurement]) -> str:
    """Notebook 07's table: one line per point; measured times and sizes come last, unpadded."""
    knobs = ["exact" if p.knob == "none" else f"{p.knob}={p.knob_value}" for p in points]
    label_width = max([len("library and build"), *(len(p.label) for p in points)])
    knob_width = max([len("knob"), *map(len, knobs)])
    lines = [f"{'library and build':<{label_width}} {'knob':>{knob_width}} {'recall@10':>9}  "
             "build, disk, memory, one-thread QPS"]
    for p, knob in zip(points, knobs, strict=True):
        memory = "n/a" if math.isnan(p.memory_mb) else f"{p.memory_mb:.0f} MB"
        build = (f"{p.build_seconds:.1f} s" if math.isnan(p.add_seconds)
                 else f"{p.add_seconds:.1f} s add + {p.build_seconds:.1f} s")
        lines.append(f"{p.label:<{label_width}} {knob:>{knob_width}} {p.recall:>9.3f}  "
                     f"{build}, {p.disk_mb:.0f} MB, {memory}, {p.qps:,.0f} QPS")
    return "\n".join(lines)


def format_fastest(points: Sequence[Measurement], targets: Sequence[float] = (0.90, 0.95, 0.99)) -> str:
    """Each library's fastest setting at each recall target, with how many of its settings tie with it."""
    rows = []
    for target in targets:
        for library, p in fastest_at(points, target).items():
            if p is None:
                rows.append((target, library, "(no setting reached it)", ""))
                continue
            setting = p.settings if p.knob == "none" else f"{p.settings}, {p.knob}={p.knob_value}"
            tied = len(ties(points, p, target))
            note = f", ties with {tied}" if tied else ""
            rows.append((target, library, setting,
                         f"{p.recall:>6.3f}  {p.qps:,.0f} ({p.qps_low:,.0f}-{p.qps_high:,.0f}){note}"))
    library_width = max([len("library"), *(len(r[1]) for r in rows)])
    setting_width = max([len("setting"), *(len(r[2]) for r in rows)])
    lines = [f"{'recall@10 >=':<12} {'library':<{library_width}} {'setting':<{setting_width}} {'recall':>6}  "
             "one-thread QPS (range)"]
    lines += [f"{target:<12.2f} {library:<{library_width}} {setting:<{setting_width}} {measured}".rstrip()
              for target, library, setting, measured in rows]
    return "\n".join(lines)
