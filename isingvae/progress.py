"""A tiny, dependency-free progress reporter for long runs.

On a terminal it redraws one line (carriage return); elsewhere (logs, CI) it
writes a plain line at most every ``interval`` seconds or every 10 % of the
work, plus one at the end.

>>> import io
>>> out = io.StringIO()
>>> with Progress(4, desc="demo", unit="sweeps", stream=out) as bar:
...     bar.update(2)
...     bar.update(2)
>>> "4/4 sweeps" in out.getvalue()
True
"""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """Report ``done / total`` of a unit of work on a stream (stderr by default).

    Args:
        total: amount of work, in ``unit``.
        desc: short description shown at the start of the line.
        unit: name of the unit ("sweeps", "samples").
        stream: where to write; defaults to ``sys.stderr``.
        interval: seconds between plain lines when the stream is not a terminal.
        enabled: ``False`` turns every call into a no-op.
    """

    def __init__(
        self,
        total: int,
        desc: str = "",
        unit: str = "",
        stream=None,
        interval: float = 10.0,
        enabled: bool = True,
    ):
        self.total = max(int(total), 0)
        self.desc = desc
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        self.interval = interval
        self.enabled = enabled
        self.done = 0
        isatty = getattr(self.stream, "isatty", None)
        self._tty = bool(isatty and isatty())
        self._start = time.monotonic()
        self._last_time = self._start
        self._last_decile = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _line(self) -> str:
        elapsed = time.monotonic() - self._start
        frac = self.done / self.total if self.total else 1.0
        eta = elapsed / frac - elapsed if frac > 0 else float("nan")
        head = f"{self.desc}: " if self.desc else ""
        if self._tty:
            width = 30
            fill = int(width * frac)
            bar = "#" * fill + "-" * (width - fill)
            return (
                f"{head}[{bar}] {self.done}/{self.total} {self.unit} "
                f"{elapsed:.0f} s elapsed, {eta:.0f} s left"
            )
        return (
            f"{head}{self.done}/{self.total} {self.unit} ({100 * frac:.0f} %), "
            f"{elapsed:.0f} s elapsed, about {eta:.0f} s left"
        )

    def update(self, n: int = 1) -> None:
        """Record ``n`` more units of finished work."""
        if not self.enabled:
            return
        self.done = min(self.done + int(n), self.total) if self.total else self.done + int(n)
        now = time.monotonic()
        if self._tty:
            if now - self._last_time >= 0.1 or self.done >= self.total:
                self.stream.write("\r" + self._line())
                self.stream.flush()
                self._last_time = now
            return
        decile = int(10 * self.done / self.total) if self.total else 10
        if now - self._last_time >= self.interval or decile > self._last_decile:
            self.stream.write(self._line() + "\n")
            self.stream.flush()
            self._last_time = now
            self._last_decile = decile

    def close(self) -> None:
        """Finish the report (a final newline on terminals)."""
        if not self.enabled:
            return
        if self._tty:
            self.stream.write("\r" + self._line() + "\n")
            self.stream.flush()
        self.enabled = False
