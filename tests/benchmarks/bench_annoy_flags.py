"""Benchmark: Annoy 1.17.3 built with its own flags, with the README's (no -ffast-math), and portable.

Run:  ANN_TUTORIAL_MIRROR=... python tests/benchmarks/bench_annoy_flags.py [--compilers gcc,clang-19]

For each compiler and each set of flags it builds Annoy from the PyPI source archive (``pip wheel``, no cache), puts
the wheel in a folder of its own and, in a child process that imports that build, runs notebook 00's check (the
README example against brute force; a crash counts as a failure) and then measures on MNIST (50,000 × 784,
angular): the ``add_item`` loop, ``build(30)`` on one thread, and one-thread queries for 10 neighbours at the
default ``search_k`` and at 3,000, timed the series' way (``evaluation.time_queries``: 50 warm-up
queries, 3 repeats of 1,000 queries, the median). It prints one line per build and each build's speed as a ratio
to the first build of the same compiler, from one run.

The flag sets: "annoy" (no ANNOY_COMPILER_ARGS: setup.py's own, -O3 -ffast-math -fno-associative-math and
-march=native on x86-64 Linux), "readme" (``tools/annoy_build_flags.py``: the same without the fast-math pair)
and "portable" (the README's without -march=native / -mcpu=native).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from annoy_build_flags import safe_flags  # noqa: E402

FLAG_SETS = {
    "annoy": None,
    "readme": safe_flags(),
    "portable": [f for f in safe_flags() if f not in ("-march=native", "-mcpu=native")],
}

MEASURE = """
import json, sys, time
import numpy as np
from annoy import AnnoyIndex
from helpers import environment, evaluation
problem = environment.probe_library("annoy")
if problem:
    print(json.dumps({"problem": problem})); sys.exit()
data = np.load(sys.argv[1])
train, queries = data["train"], data["queries"]
index = AnnoyIndex(train.shape[1], "angular")
index.set_seed(42)
start = time.perf_counter()
for i, row in enumerate(train.tolist()):
    index.add_item(i, row)
add_s = time.perf_counter() - start
start = time.perf_counter()
index.build(30, n_jobs=1)
build_s = time.perf_counter() - start
result = {"add_s": add_s, "build_s": build_s}
for search_k in (-1, 3000):
    timing = evaluation.time_queries(
        lambda q: index.get_nns_by_vector(q, 10, search_k=search_k), queries.tolist(), 10)
    result[f"qps_{search_k}"] = timing.qps
    result[f"full_{search_k}"] = float((timing.ids >= 0).all(axis=1).mean())
print(json.dumps(result))
"""


def build(compiler: str, flags: list[str] | None, dest: Path) -> Path:
    """Build Annoy 1.17.3 with ``compiler`` ("gcc" or e.g. "clang-19") and ``flags``; return its site folder."""
    env = {k: v for k, v in os.environ.items() if k != "ANNOY_COMPILER_ARGS"}
    if flags is not None:
        env["ANNOY_COMPILER_ARGS"] = ",".join(flags)
    if compiler != "gcc":
        env["CC"], env["CXX"] = compiler, compiler.replace("clang", "clang++")
    wheels, site = dest / "wheel", dest / "site"
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir", "--no-binary", "annoy",
                    "-w", str(wheels), "annoy==1.17.3"], env=env, check=True)
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), *map(str, wheels.glob("*.whl"))],
                   check=True)
    return site


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compilers", default="gcc", help="comma-separated: gcc, clang-19, ...")
    args = parser.parse_args()

    import numpy as np

    from helpers import datasets

    x_train, _, x_test, _ = datasets.mnist_arrays(quick=False)
    rng = np.random.default_rng(42)
    queries = x_test[rng.choice(len(x_test), 1000, replace=False)]
    print("ratios (x) are to the first working build of the same compiler, in this run")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "mnist.npz"
        np.savez(data, train=x_train, queries=queries)
        for compiler in args.compilers.split(","):
            first = None
            for name, flags in FLAG_SETS.items():
                site = build(compiler, flags, Path(tmp) / f"{compiler}-{name}")
                env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]))
                done = subprocess.run([sys.executable, "-c", MEASURE, str(data)], env=env, capture_output=True,
                                      text=True)
                label = f"{compiler:<9} {name:<9}"
                if done.returncode != 0:
                    print(f"{label} the measuring process failed (exit {done.returncode}): "
                          f"{done.stderr.strip().splitlines()[-1:]}")
                    continue
                r = json.loads(done.stdout)
                if "problem" in r:
                    print(f"{label} BROKEN: {r['problem']}")
                    continue
                first = first or r
                print(f"{label} add {r['add_s']:.2f} s, build {r['build_s']:.2f} s, "
                      f"QPS at default search_k {r['qps_-1']:,.0f} ({r['qps_-1'] / first['qps_-1']:.2f}x), "
                      f"at 3000 {r['qps_3000']:,.0f} ({r['qps_3000'] / first['qps_3000']:.2f}x); "
                      f"build time {r['build_s'] / first['build_s']:.2f}x; "
                      f"all 10 returned for {r['full_-1']:.0%} / {r['full_3000']:.0%} of queries")


if __name__ == "__main__":
    main()
