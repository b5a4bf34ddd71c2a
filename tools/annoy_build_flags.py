"""Print the compiler flags the README's install gives Annoy 1.17.3: its own defaults, without ``-ffast-math``.

Annoy's ``setup.py`` compiles with ``-O3 -ffast-math -fno-associative-math`` (and ``-march=native`` on x86-64
Linux). Current clang miscompiles Annoy under ``-ffast-math``: on macOS queries return one neighbour instead of
``k`` (spotify/annoy #679, #682, #693), and Debian's clang 19 builds a module that crashes on Annoy's README
example. Annoy reads ``ANNOY_COMPILER_ARGS`` (comma-separated) *in place of* its defaults, so this script prints
the defaults for this platform, decided the way ``setup.py`` decides them, with the two fast-math flags left out:

    ANNOY_COMPILER_ARGS="$(python tools/annoy_build_flags.py)" python -m pip install ... annoy==1.17.3

Run it with ``--explain`` to see both lists. An ``ANNOY_COMPILER_ARGS`` already set is yours: it is printed
unchanged (CI builds a portable leg that way). On Windows Annoy's defaults have no ``-ffast-math``: nothing to do.
"""

from __future__ import annotations

import os
import platform
import sys

FAST_MATH = ("-ffast-math", "-fno-associative-math")


def annoy_default_flags() -> list[str]:
    """Annoy 1.17.3's ``extra_compile_args`` on this platform, as its ``setup.py`` builds the list."""
    flags = ["-D_CRT_SECURE_NO_WARNINGS", "-fpermissive"]
    if platform.machine() == "ppc64le":
        flags.append("-mcpu=native")
    if platform.machine() == "x86_64" and platform.system() != "Darwin":
        flags.append("-march=native")
    if os.name != "nt":
        flags += ["-O3", *FAST_MATH]
    flags.append("-DANNOYLIB_MULTITHREADED_BUILD")
    if os.name != "nt":
        flags.append("-std=c++14")
    if platform.system() == "Darwin":
        flags.append("-mmacosx-version-min=10.12")
    return flags


def safe_flags() -> list[str]:
    """The defaults without the fast-math flags: what the README's install uses."""
    return [flag for flag in annoy_default_flags() if flag not in FAST_MATH]


if __name__ == "__main__":
    if "--explain" in sys.argv[1:]:
        print("Annoy 1.17.3's defaults here:", " ".join(annoy_default_flags()))
        print("the README's install uses:   ", " ".join(safe_flags()))
    else:
        print(os.environ.get("ANNOY_COMPILER_ARGS") or ",".join(safe_flags()))
