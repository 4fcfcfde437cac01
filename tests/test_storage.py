"""The HDF5 layout: round trip, validation of foreign and damaged files, atomic writes."""

import h5py
import numpy as np
import pytest

from isingvae import storage
from isingvae.errors import InputError


def _columns(n=12, L=4, seed=0):
    rng = np.random.default_rng(seed)
    spins = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, L, L))
    m = spins.mean(axis=(1, 2))
    e = -(spins * (np.roll(spins, 1, 1) + np.roll(spins, 1, 2))).mean(axis=(1, 2))
    return dict(spins=spins, temperature=np.repeat([1.5, 3.0], n // 2), energy=e,
                magnetization=m, chain=np.arange(n) // 3)


def _write(path, **over):
    cols = _columns()
    cols.update(over)
    return storage.write_ising_file(path, L=4, J=1.0, h=0.0, seed=7, algorithm="metropolis",
                                    attrs={"thinning_sweeps": [3, 4], "note": {"a": 1}},
                                    **cols)


@pytest.mark.parametrize("compression", ["gzip", "lzf", None])
def test_round_trip_and_schema(tmp_path, compression):
    path = tmp_path / "d.h5"
    cols = _columns()
    storage.write_ising_file(path, L=4, J=1.0, h=0.0, seed=7, algorithm="metropolis",
                             compression=compression, **cols)
    header = storage.read_header(path)
    assert (header.L, header.seed, header.algorithm, header.n) == (4, 7, "metropolis", 12)
    with storage.open_ising_file(path) as f:
        assert f.attrs["format"] == "isingvae/ising2d"
        assert f.attrs["format_version"] == 1
        for name, (dtype, ndim) in storage.DATASETS.items():
            assert f[name].dtype == dtype and f[name].ndim == ndim
            np.testing.assert_array_equal(f[name][...], cols[name])
        assert f["spins"].chunks is not None
        assert f["spins"].compression == compression


@pytest.mark.parametrize(("n", "L"), [(1000, 8), (514, 16), (256, 4), (6, 4)])
def test_threaded_compression_writes_the_same_file(tmp_path, n, L):
    # chunks compressed by threads and written directly: the same bytes as HDF5's own
    # shuffle + deflate, partial last chunk included
    cols = _columns(n=n, L=L, seed=n)
    files = []
    for threads in (1, 3):
        files.append(tmp_path / f"t{threads}.h5")
        storage.write_ising_file(files[-1], L=L, J=1.0, h=0.0, seed=7,
                                 algorithm="metropolis", threads=threads, **cols)
    assert files[0].read_bytes() == files[1].read_bytes()
    with storage.open_ising_file(files[1]) as f:
        np.testing.assert_array_equal(f["spins"][...], cols["spins"])
        assert f["spins"].compression == "gzip" and f["spins"].shuffle
    # a spin that is not +-1, anywhere, is refused by either path; nothing is written
    for bad in (0, 3, -2, 127):
        spins = cols["spins"].copy()
        spins[-1, 0, -1] = bad
        for threads in (1, 3):
            with pytest.raises(ValueError, match="must all be"):
                storage.write_ising_file(tmp_path / "bad.h5", L=L, J=1.0, h=0.0, seed=7,
                                         algorithm="metropolis", threads=threads,
                                         **{**cols, "spins": spins})
            assert not (tmp_path / "bad.h5").exists()


def test_attrs_encoding(tmp_path):
    path = _write(tmp_path / "d.h5")
    with h5py.File(path) as f:
        np.testing.assert_array_equal(f.attrs["thinning_sweeps"], [3, 4])
        assert f.attrs["note"] == '{"a": 1}'
        assert isinstance(f.attrs["package_version"], str)


def test_foreign_truncated_and_non_hdf5_files_are_refused(tmp_path):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    text = tmp_path / "notes.h5"
    text.write_text("hello\n")
    good = _write(tmp_path / "good.h5")
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for path, needle in [(foreign, "not an isingvae"), (text, "not an HDF5"),
                         (truncated, "truncated or corrupt"), (tmp_path / "none.h5", "no such"),
                         (tmp_path, "directory")]:
        with pytest.raises(InputError, match=needle) as info:
            storage.read_header(path)
        assert str(path) in str(info.value)
        assert "\n" not in str(info.value)


def test_layout_violations_are_named(tmp_path):
    path = _write(tmp_path / "d.h5")
    with h5py.File(path, "a") as f:
        del f["chain"]
        f["chain"] = np.zeros(5, dtype=np.int64)
    with pytest.raises(InputError, match="/chain has 5 rows"):
        storage.read_header(path)


def test_failed_write_leaves_old_file_untouched(tmp_path):
    path = _write(tmp_path / "d.h5")
    before = path.read_bytes()
    bad = _columns()
    bad["energy"] = bad["energy"][:-1]
    with pytest.raises(ValueError, match="energy"):
        storage.write_ising_file(path, L=4, J=1, h=0, seed=1, algorithm="x", **bad)
    # a failure half-way through writing the new file (an object array HDF5 cannot store)
    with pytest.raises(TypeError):
        storage.write_ising_file(path, L=4, J=1, h=0, seed=1, algorithm="x",
                                 extra={"bad": np.array([object()])}, **_columns())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]  # no temporary left


def test_unwritable_directory(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        _write(tmp_path / "missing" / "d.h5")


def test_written_files_get_ordinary_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        path = _write(tmp_path / "d.h5")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_public_names_and_one_atomic_rule():
    # the package re-exports the layout and the writer; atomic writing lives only in
    # isingvae._atomic
    assert set(storage.__all__) == {"DATASETS", "FORMAT", "FORMAT_VERSION", "Header",
                                    "open_ising_file", "read_header", "write_ising_file"}
    assert not hasattr(storage, "atomic_path") and not hasattr(storage, "write_text_atomic")
    from isingvae.storage import writer

    assert writer.write_bytes.__module__ == "isingvae._atomic"
    assert not hasattr(writer, "atomic_file")  # the writer's one way to disk is write_bytes

