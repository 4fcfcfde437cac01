"""Progress of long work: a tqdm bar where someone watches, a few plain lines elsewhere.

- On a terminal, and in a Jupyter notebook (where :mod:`tqdm.auto` draws a widget), the
  bar is tqdm's.
- Anywhere else (a log file, CI) one plain line is written at most every ``interval``
  seconds or every 10 % of the work, plus one at the end.  tqdm itself would redraw
  its line with carriage returns, which pile up into one unreadable line in a log; this
  small writer is kept for that case only.
- ``enabled=False`` (a command's ``--quiet``) writes nothing.

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


def _in_notebook() -> bool:
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class Progress:
    """Report ``done / total`` of a unit of work on a stream (stderr by default).

    Args:
        total: amount of work, in ``unit``.
        desc: short description shown at the start of the line.
        unit: name of the unit ("sweeps", "configs").
        stream: where to write; defaults to ``sys.stderr``.
        interval: seconds between plain lines when nobody watches a bar.
        enabled: ``False`` turns every call into a no-op (``None`` counts as ``True``).
    """

    def __init__(self, total: int, desc: str = "", unit: str = "", stream=None,
                 interval: float = 10.0, enabled: bool | None = True):
        self.total = max(int(total), 0)
        self.desc, self.unit, self.interval = desc, unit, interval
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled is not False
        self.done = 0
        self._bar = None
        isatty = getattr(self.stream, "isatty", None)
        watched = bool(isatty and isatty()) or (stream is None and _in_notebook())
        if self.enabled and watched:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=desc or None, unit=f" {unit}".rstrip(),
                             file=self.stream, leave=True, dynamic_ncols=True)
        self._start = self._last_time = time.monotonic()
        self._last_decile = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Record ``n`` more units of finished work."""
        if not self.enabled:
            return
        self.done = min(self.done + int(n), self.total) if self.total else self.done + int(n)
        if self._bar is not None:
            self._bar.update(int(n))
            return
        now = time.monotonic()
        decile = int(10 * self.done / self.total) if self.total else 10
        if now - self._last_time >= self.interval or decile > self._last_decile:
            self.stream.write(self._line(now) + "\n")
            self.stream.flush()
            self._last_time, self._last_decile = now, decile

    def _line(self, now: float) -> str:
        elapsed = now - self._start
        frac = self.done / self.total if self.total else 1.0
        eta = elapsed / frac - elapsed if frac > 0 else float("nan")
        head = f"{self.desc}: " if self.desc else ""
        return (f"{head}{self.done}/{self.total} {self.unit} ({100 * frac:.0f} %), "
                f"{elapsed:.0f} s elapsed, about {eta:.0f} s left")

    def close(self) -> None:
        """Finish the report (the bar's final state)."""
        if self._bar is not None:
            self._bar.close()
        self.enabled = False
