"""Checks a learner runs first (notebook 00): is this machine ready for the series?"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from importlib import metadata

from helpers import config, environment_problems

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


def _annoy() -> Check:
    try:
        from annoy import AnnoyIndex

        index = AnnoyIndex(3, "angular")
        for i, v in enumerate([[1, 0, 0], [0, 1, 0], [1, 1, 0]]):
            index.add_item(i, v)
        index.build(2, n_jobs=1)
        assert index.get_nns_by_item(0, 1) == [0]
    except Exception as e:  # noqa: BLE001 (any failure here means the same fix)
        return Check("Annoy works", "FAIL", f"{type(e).__name__}: {e}. Reinstall it: pip install --force-reinstall "
                     "--no-build-isolation annoy==1.17.3 (needs a C++ compiler; see README, Troubleshooting)")
    return Check("Annoy works", "ok", "built and queried a tiny index")


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
    mirror = datasets.mirror_from_env()
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
    checks += [_annoy(), _chainer()]
    if checks[-1].status == "ok":
        checks += [_dataset("mnist"), _dataset("cifar-10")]
    checks.append(_disk())
    return checks


def report(checks: list[Check]) -> str:
    """The checks as an aligned text table."""
    width = max(len(c.name) for c in checks)
    return "\n".join(f"[{c.status:>4}] {c.name:<{width}}  {c.detail}" for c in checks)
