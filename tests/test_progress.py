"""Progress of long work: tqdm where someone watches, a few plain lines elsewhere."""

import io

import numpy as np

from isingvae.progress import Progress


def test_progress_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    with Progress(100, desc="job", unit="sweeps", stream=out, interval=1e9) as bar:
        for _ in range(100):
            bar.update(1)
    lines = out.getvalue().splitlines()
    assert 5 <= len(lines) <= 11 and lines[-1].startswith("job: 100/100 sweeps")
    quiet = io.StringIO()
    with Progress(10, stream=quiet, enabled=False) as bar:
        bar.update(10)
    assert quiet.getvalue() == ""


def test_progress_bar_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    with Progress(3, unit="sweeps", stream=out) as bar:
        bar.update(3)
    assert "\r" in out.getvalue() and "[" in out.getvalue()


def test_progress_uses_tqdm_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    with Progress(5, desc="job", unit="steps", stream=out) as bar:
        assert type(bar._bar).__module__.startswith("tqdm")
        bar.update(5)
    assert "5/5" in out.getvalue()
    assert np.isfinite(bar.done)
