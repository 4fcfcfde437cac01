"""Hostile input (class 1 of the safety checks): nothing a user made is ever overwritten.

A command that writes refuses to replace a file it did not make for the same purpose
with the same settings, unless ``--force``: exit status 2, one line naming the file and
``--force``, the file byte-identical, nothing left beside it.

``generate``'s cases are the functions named ``test_generate_*``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from _safety_helpers import assert_refused, cli, snapshot, unchanged

from isingvae import storage
from isingvae.generation import GenerationPlan, generate

ARGS = ["generate", "--L", "8", "--temperatures", "2.5", "--samples", "16", "--seed", "1",
        "--algorithm", "metropolis", "--quiet"]


def _text(path: Path) -> None:
    path.write_text("my notes, not data\n")


def _foreign_hdf5(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f["measurements"] = np.arange(10.0)
        f.attrs["instrument"] = "mine"


def _truncated_isingvae(path: Path) -> None:
    _sampled(path)
    path.write_bytes(path.read_bytes()[:2000])


def _sampled(path: Path) -> None:
    # the layout and provenance of a file from `isingvae sample RUN --out FILE` (made here
    # without training a model: same writer, algorithm "vae", a `made_by` record)
    n = 6
    spins = np.where(np.random.default_rng(0).random((n, 8, 8)) < 0.5, 1, -1).astype(np.int8)
    made_by = json.dumps({"command": "sample", "run_dir": "/runs/vae8", "n": n, "seed": 0,
                          "model_sha256": "0" * 64, "temperature": None}, sort_keys=True)
    storage.write_ising_file(path, L=8, J=1.0, h=0.0, seed=0, algorithm="vae", spins=spins,
                             temperature=np.full(n, np.nan), energy=np.zeros(n),
                             magnetization=spins.mean(axis=(1, 2)), chain=np.arange(n),
                             attrs={"made_by": made_by})


def _other_settings(path: Path) -> None:
    generate(GenerationPlan(L=8, temperatures=(2.5,), samples=16, chains=16, seed=2,
                            algorithm="metropolis"), path, progress=False)


def _other_settings_unfinished(path: Path) -> None:
    # a data file of other settings whose run stopped half-way (its .parts is gone)
    _other_settings(path)
    with h5py.File(path, "a") as f:
        f.attrs["complete"] = False


KINDS = {"text": (_text, "not a readable isingvae file"),
         "foreign-hdf5": (_foreign_hdf5, "not a readable isingvae file"),
         "truncated-isingvae": (_truncated_isingvae, "not a readable isingvae file"),
         "made-by-sample": (_sampled, "did not make"),
         "other-settings": (_other_settings, "seed: 2 -> 1"),
         "other-settings-unfinished": (_other_settings_unfinished, "seed: 2 -> 1")}


@pytest.mark.parametrize("kind", list(KINDS))
def test_generate_never_overwrites_a_file_it_did_not_make(kind, tmp_path, capsys):
    out = tmp_path / "x.h5"
    make, needle = KINDS[kind]
    make(out)
    before = snapshot(tmp_path)
    assert_refused(cli([*ARGS, "--out", out], capsys), str(out), "--force", needle)
    assert unchanged(before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.h5"]  # no .parts, no lock


def test_generate_refuses_a_directory_as_output(tmp_path, capsys):
    out = tmp_path / "x.h5"
    out.mkdir()
    (out / "keep.txt").write_text("mine\n")
    before = snapshot(tmp_path)
    assert_refused(cli([*ARGS, "--out", out], capsys), "directory")
    assert_refused(cli([*ARGS, "--out", out, "--force"], capsys), "directory")
    assert unchanged(before) and sorted(p.name for p in tmp_path.iterdir()) == ["x.h5"]


def test_generate_force_replaces_a_file_of_other_settings(tmp_path, capsys):
    out = tmp_path / "x.h5"
    _other_settings(out)
    assert cli([*ARGS, "--out", out, "--force"], capsys)[0] == 0
    header = storage.read_header(out)
    assert header.seed == 1 and header.attrs["complete"] and header.n == 16


# ------------------------------------------------------------------ the learning side


def test_sample_never_replaces_a_file_it_did_not_make(tmp_path, tiny_run, capsys):
    data, run = tiny_run
    precious = tmp_path / "precious.h5"
    shutil.copyfile(data, precious)                    # hours of Monte Carlo, say
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    before = snapshot(precious, notes)
    for target in (precious, notes):
        assert_refused(cli(["sample", run, "--n", 10, "--out", target], capsys),
                       str(target), "--force")
    assert unchanged(before)
    # a file this very command made is left as it is; another seed is another output
    out = tmp_path / "s.h5"
    assert cli(["sample", run, "--n", 10, "--out", out, "--seed", 1], capsys)[0] == 0
    made = snapshot(out)
    assert cli(["sample", run, "--n", 10, "--out", out, "--seed", 1], capsys)[0] == 0
    assert unchanged(made)
    assert_refused(cli(["sample", run, "--n", 10, "--out", out, "--seed", 2], capsys),
                   "not made by this command")
    assert unchanged(made)
    # --force replaces
    assert cli(["sample", run, "--n", 10, "--out", precious, "--force"], capsys)[0] == 0
    assert not unchanged(before)


def test_analyze_and_run_never_write_into_a_folder_of_other_files(tmp_path, tiny_run,
                                                                   capsys):
    data, run = tiny_run
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "README.md").write_text("my notes")
    before = snapshot(folder)
    base = ["analyze", run, "--data", data, "--samples", 0, "--bootstrap", 5, "--quiet"]
    assert_refused(cli([*base, "--out", folder], capsys), "did not write", "--force")
    assert_refused(cli(["run", "--quick", "--quiet", "--out", folder], capsys),
                   "did not write", "--force")
    assert unchanged(before)
    # analyze's own folder: the same analysis again is fine, another one is refused
    report = tmp_path / "report"
    assert cli([*base, "--out", report], capsys)[0] == 0
    assert cli([*base, "--out", report], capsys)[0] == 0
    assert_refused(cli([*base, "--out", report, "--seed", 9], capsys), "other runs or settings")
    assert cli([*base, "--out", report, "--seed", 9, "--force"], capsys)[0] == 0
