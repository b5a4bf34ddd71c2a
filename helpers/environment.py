"""Checks a learner runs first (notebook 00): is this machine ready for the series?"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata

from helpers import config, environment_problems, text

DISK_NEEDED_GB = 2.0  # MNIST index ~0.2 GB, CIFAR-10 index ~0.7 GB, sweeps and exact results, with room to spare


@dataclass
class Check:
    """One check: ``status`` is "ok", "note" (works, but read this) or "FAIL"."""

    name: str
    status: str
    detail: str


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _packages() -> Check:
    problems = environment_problems()
    versions = ", ".join(f"{p} {_version(p)}" for p in ("numpy", "setuptools", "annoy", "chainer", "matplotlib"))
    py = ".".join(map(str, sys.version_info[:3]))
    return Check("Python and packages", "FAIL" if problems else "ok",
                 " ".join(problems) if problems else f"Python {py}; {versions}")


# Each library check runs in a child process: a miscompiled module may crash (segfault) instead of raising, and a
# crash there is a failed check with its fix, not a dead kernel. Both build the README's example (1,000 random
# vectors) and compare the answer with brute force. With n = 1000 and 10 trees Annoy's default search_k
# (n × trees) covers every item, so its list must hold all 1,000 items, the first ten the exact ten nearest.
_LIBRARY_PROBE = """
import sys
import numpy as np
rng = np.random.default_rng(0)
vectors = rng.normal(size=(1000, 40)).astype(np.float32)
unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
exact = set(np.argsort(-(unit @ unit[0]))[:10].tolist())
if sys.argv[1] == "annoy":
    from annoy import AnnoyIndex
    index = AnnoyIndex(40, "angular")
    index.set_seed(42)
    for i, v in enumerate(vectors.tolist()):
        index.add_item(i, v)
    index.build(10, n_jobs=1)
    found = index.get_nns_by_item(0, 1000)
else:
    import hnswlib
    index = hnswlib.Index(space="cosine", dim=40)
    index.init_index(max_elements=1000, ef_construction=200, M=16, random_seed=42)
    index.set_num_threads(1)
    index.add_items(vectors)
    index.set_ef(200)
    found = index.knn_query(vectors[:1], k=1000)[0][0].tolist()
print(len(found), len(set(found)), len(set(found[:10]) & exact))
"""
ANNOY_FIX = ('reinstall it without -ffast-math: ANNOY_COMPILER_ARGS="$(python tools/annoy_build_flags.py)" '
             "python -m pip install --force-reinstall --no-deps --no-cache-dir --no-build-isolation annoy==1.17.3 "
             "(notebooks/setup.md, Troubleshooting)")
HNSWLIB_FIX = ("reinstall it: python -m pip install --force-reinstall --no-deps --no-cache-dir --no-build-isolation "
               "hnswlib==0.8.0 (with clang on Linux it needs libomp; notebooks/setup.md, Troubleshooting)")


def probe_library(library: str, timeout: float = 120) -> str | None:
    """Run the README example on ``library`` ("annoy" or "hnswlib") in a child process; None if it answered right.

    Otherwise one sentence on what went wrong: a crash (with its signal), an exception, or a wrong answer.
    """
    try:
        done = subprocess.run([sys.executable, "-c", _LIBRARY_PROBE, library], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"the example did not finish in {timeout:.0f} s"
    if done.returncode < 0:
        return f"the example crashed the process ({signal.Signals(-done.returncode).name})"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return f"the example failed: {last}"
    n_found, n_distinct, n_exact = map(int, done.stdout.split())
    if n_found != 1000 or n_distinct != 1000:
        return f"asked for 1,000 neighbours of 1,000 items, it returned {n_found:,} ({n_distinct:,} distinct)"
    if n_exact < 10:
        return f"only {n_exact} of its 10 nearest are the exact 10 nearest (brute force)"
    return None


def _library_check(name: str, library: str, fix: str) -> Check:
    problem = probe_library(library)
    if problem is not None:
        return Check(name, "FAIL", f"{problem}; {fix}")
    return Check(name, "ok", "1,000 of 1,000 neighbours returned, the nearest 10 as brute force")


def _annoy() -> Check:
    return _library_check("Annoy works", "annoy", ANNOY_FIX)


def _hnswlib() -> Check:
    return _library_check("hnswlib works", "hnswlib", HNSWLIB_FIX)


def _chainer() -> Check:
    try:
        from helpers import datasets  # imports Chainer (quietly): this is the check
    except Exception as e:  # noqa: BLE001
        return Check("Chainer imports", "FAIL", f"{type(e).__name__}: {e}. Set up a fresh environment with the README's command")
    from helpers import compat

    patched = compat.applied()
    note = f" (with helpers.compat's stand-ins for {', '.join(patched)})" if patched else ""
    return Check("Chainer imports", "ok", f"chainer {datasets.chainer.__version__}{note}")


def _dataset(name: str) -> Check:
    from helpers import datasets  # only called once _chainer() passed

    spec = datasets.DATASETS[name]
    root = datasets.chainer_dataset_root()
    if datasets.cache_is_complete(spec, root):
        return Check(f"{name} data", "ok", "in Chainer's cache")
    mirror = config.mirror_from_env()
    if mirror is not None:
        missing = [f.name for f in spec.files if not (mirror / spec.folder / f.name).is_file()]
        if missing:
            return Check(f"{name} data", "FAIL", f"{datasets.MIRROR_ENV}={mirror} lacks {spec.folder}/{missing[0]}; "
                         "fix the folder or unset the variable")
        return Check(f"{name} data", "ok", f"not cached yet; will be read from the mirror folder ({datasets.MIRROR_ENV})")
    return Check(f"{name} data", "note", "not cached yet; the notebook will download it from the public hosts "
                 f"(or set {datasets.MIRROR_ENV}; or run: python -m helpers.datasets)")


def _disk() -> Check:
    config.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(config.CACHE_DIR).free / 1e9
    if free < DISK_NEEDED_GB:
        return Check("free disk", "FAIL", f"{free:.1f} GB free at {config.CACHE_DIR}; the index files need about "
                     f"{DISK_NEEDED_GB:.0f} GB: free some space or set ANN_TUTORIAL_CACHE to a bigger disk")
    return Check("free disk", "ok", f"{free:.0f} GB free for the index files (about {DISK_NEEDED_GB:.0f} GB needed)")


def run_checks() -> list[Check]:
    """Every check, in the order a learner would fix them."""
    checks = [_packages()]
    if checks[0].status == "FAIL":
        return checks  # nothing else can work
    checks += [_annoy(), _hnswlib(), _chainer()]
    if checks[-1].status == "ok":
        checks += [_dataset("mnist"), _dataset("cifar-10")]
    checks.append(_disk())
    return checks


def report(checks: list[Check], width: int = text.WIDTH) -> str:
    """The checks as an aligned text table, details wrapped at word boundaries to ``width`` characters."""
    name_width = max(len(c.name) for c in checks)
    return "\n".join(text.wrap(c.detail, width, first=f"[{c.status:>4}] {c.name:<{name_width}}  ") for c in checks)


if __name__ == "__main__":  # python -m helpers.environment: notebook 00's checks in a terminal
    print(report(run_checks()))
