"""Shared tools of the hostile-input tests (tests/test_safety_*.py).

- :func:`cli` runs ``isingvae`` in-process and returns ``(exit status, stdout, stderr)``;
- :func:`assert_refused` checks the contract for bad input: exit status 2, one short line
  on stderr that contains the given words, no traceback;
- :func:`snapshot` / :func:`unchanged` prove that files a user already had are
  byte-identical after a refused command;
- :func:`small_disk` gives a directory on a file system of a few hundred kB (a tmpfs,
  when this process may mount one; otherwise the test is skipped and the monkeypatched
  variants of the same test stand in).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from isingvae import cli as _cli


def cli(argv, capsys) -> tuple[int, str, str]:
    code = _cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def cli_or_exit(argv, capsys) -> tuple[int, str, str]:
    """:func:`cli`, with argparse's refusals (which exit) turned into the same triple."""
    try:
        return cli(argv, capsys)
    except SystemExit as exc:
        out = capsys.readouterr()
        return exc.code, out.out, out.err


def assert_refused(result, *needles: str, max_length: int = 400) -> None:
    code, _, err = result
    assert code == 2, (code, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert len(err) <= max_length, err
    for needle in needles:
        assert needle in err, (needle, err)


def snapshot(*paths) -> dict[Path, str]:
    """SHA-256 of every file under ``paths`` (files or directories)."""
    out = {}
    for p in map(Path, paths):
        files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())
        for f in files:
            out[f] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def unchanged(before: dict[Path, str]) -> bool:
    return all(p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() == h
               for p, h in before.items())


@contextlib.contextmanager
def small_disk(parent: Path, size: str = "512k"):
    """A fresh tmpfs of ``size`` mounted under ``parent``; skips the test when mounting
    is not allowed here (not root, or no mount in this sandbox)."""
    mount = Path(parent) / f"disk-{uuid.uuid4().hex[:8]}"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(directory: Path, leave: int) -> None:
    """Fill the file system of ``directory`` until about ``leave`` bytes are free."""
    import shutil

    free = shutil.disk_usage(directory).free
    if free > leave:
        with open(directory / "ballast", "wb") as f:
            f.write(b"\0" * (free - leave))


@contextlib.contextmanager
def killed_before_final_assembly(monkeypatch):
    """Inside the block, ``generate`` is interrupted (``KeyboardInterrupt``) just before
    it assembles the complete file: what a kill leaves once all the work is done."""
    from isingvae.generation import driver

    real = driver._assemble

    def assemble(plan, out, parts, pilots, complete, **kw):
        if complete:
            raise KeyboardInterrupt
        return real(plan, out, parts, pilots, complete, **kw)

    with monkeypatch.context() as m:
        m.setattr(driver, "_assemble", assemble)
        yield
