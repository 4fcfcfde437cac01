"""One home for learning-side randomness, one atomic write: isingvae.random, isingvae._atomic."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from isingvae import _atomic, random
from isingvae.errors import InputError

ROOT = Path(__file__).resolve().parent.parent


def test_streams_differ_by_seed_and_purpose_and_repeat():
    draws = {(s, p): random.generator(s, p).integers(1 << 62, size=4).tolist()
             for s in range(50) for p in random.STREAMS}
    assert len({tuple(v) for v in draws.values()}) == len(draws)      # no two streams alike
    assert random.generator(3, "labels").integers(1 << 62) == \
        random.generator(3, "labels").integers(1 << 62)
    keys = {tuple(random.tf_key(s, "importance", k)) for s in range(20) for k in range(20)}
    assert len(keys) == 400
    assert all(0 <= random.int_seed(s, "weights") < 2**31 for s in range(100))
    with pytest.raises(InputError, match="unknown random stream"):
        random.generator(0, "noise")
    with pytest.raises(InputError, match="seed"):
        random.generator(-1, "labels")


def test_no_seed_arithmetic_on_the_learning_side():
    """Streams come from isingvae.random, never from ``seed + constant``: run s + k must
    not reuse the noise of run s."""
    pattern = re.compile(r"seed\s*[+]\s*[0-9]|seed\s*,\s*0x|\+ 1_000_003|7919")
    found = []
    for sub in ("training", "evaluation", "models", "data", "analysis", "stats"):
        for path in (ROOT / "isingvae" / sub).rglob("*.py"):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not found, found


def test_every_stream_is_documented():
    doc = random.__doc__
    for name, number in random.STREAMS.items():
        assert re.search(rf"``{re.escape(name)}``\s+{number}\s", doc), name


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "f.json"
    _atomic.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), _atomic.atomic_file(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]        # no temporary left
    with pytest.raises(InputError, match="does not exist"):
        _atomic.write_text(tmp_path / "missing" / "x.txt", "x")


def test_only_the_atomic_module_renames_files():
    """Every write goes through isingvae._atomic (one rule, always fsynced)."""
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "isingvae").rglob("*.py")
                 if p.name != "_atomic.py" and re.search(r"os\.replace|os\.rename|fsync",
                                                          p.read_text())]
    allowed = {"isingvae/training/rundir.py", "isingvae/training/callbacks.py"}
    assert set(offenders) <= allowed, offenders
    for name in allowed:       # there, only to give Keras the file suffix it insists on
        text = (ROOT / name).read_text()
        assert "atomic_file" in text and "fsync" not in text
