"""A small progress display that behaves well in Jupyter, in a terminal and under nbval.

In Jupyter it is one output line updated in place (at most twice a second); in a
terminal it is one line on stderr rewritten with a carriage return. The line
always starts with ``[progress]`` so the test suite can sanitize its changing
numbers (see ``tests/nbval_sanitize.cfg``).
"""

from __future__ import annotations

import sys
import time

PREFIX = "[progress]"


def _in_jupyter() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _fmt_count(n: float, unit: str) -> str:
    if unit == "B":
        return f"{n / 1e6:,.1f} MB"
    return f"{int(n):,}"


class Progress:
    """Report progress of a long step: ``with Progress("build", total=30) as p: p.update(1)``."""

    def __init__(self, label: str, total: float | None = None, unit: str = "", enabled: bool = True,
                 min_interval: float = 0.5) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.enabled = enabled
        self.min_interval = min_interval
        self.done = 0.0
        self._last_draw = 0.0
        self._handle = None
        self._jupyter = enabled and _in_jupyter()
        self.start = time.perf_counter()  # after the Jupyter check, which may import IPython: time only the work

    def _text(self, finished: bool) -> str:
        elapsed = time.perf_counter() - self.start
        state = f"{'done in' if finished else 'elapsed'} {elapsed:.1f} s"
        if not self.total and not self.done:  # a single step with no count: just the time
            return f"{PREFIX} {self.label}: {state}"
        count = _fmt_count(self.done, self.unit)
        if self.total:
            count += f"/{_fmt_count(self.total, self.unit)} ({100 * self.done / self.total:.0f}%)"
        return f"{PREFIX} {self.label}: {count}, {state}"

    def _draw(self, finished: bool = False) -> None:
        if not self.enabled:
            return
        text = self._text(finished)
        if self._jupyter:
            from IPython.display import display

            if self._handle is None:
                self._handle = display({"text/plain": text}, raw=True, display_id=True)
            else:
                self._handle.update({"text/plain": text}, raw=True)
        else:
            sys.stderr.write("\r" + text + ("\n" if finished else ""))
            sys.stderr.flush()

    def __enter__(self) -> Progress:
        self._draw()
        return self

    def update(self, n: float = 1) -> None:
        """Add ``n`` to the amount done and redraw if enough time has passed."""
        self.done += n
        now = time.perf_counter()
        if now - self._last_draw >= self.min_interval:
            self._last_draw = now
            self._draw()

    def close(self) -> None:
        """Draw the final line."""
        self._draw(finished=True)

    def __exit__(self, *exc: object) -> None:
        self.close()
