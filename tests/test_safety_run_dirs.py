"""Hostile input (class 4 of the safety checks): damaged run directories.

One reader (isingvae.training.RunDir) gives every command the same one-line messages for
a config.json that is not JSON, is a list, lacks its keys or holds bad settings, and for
a model.keras that is missing, truncated or not a model at all; nothing is written.
"""

from __future__ import annotations

import json
import shutil

import pytest
from _safety_helpers import assert_refused, cli, snapshot, unchanged

DAMAGE = {
    "config-not-json": ("config.json", "{not json", "is unreadable"),
    "config-a-list": ("config.json", "[1, 2, 3]", "is unreadable"),
    "config-without-data": ("config.json", json.dumps({"settings": {}}), "is unreadable"),
    "config-bad-settings": ("config.json", None, "holds bad settings"),
    "model-truncated": ("model.keras", 4000, "not a Keras model file"),
    "model-garbage": ("model.keras", "garbage", "not a Keras model file"),
    "model-missing": ("model.keras", "", "has no model.keras"),
}


def _damage(run, how):
    name, content, _ = DAMAGE[how]
    path = run / name
    if how == "config-bad-settings":
        record = json.loads(path.read_text())
        record["settings"]["epochs"] = -3
        path.write_text(json.dumps(record))
    elif how == "model-missing":
        path.unlink()
    elif isinstance(content, int):
        path.write_bytes(path.read_bytes()[:content])
    else:
        path.write_text(content)


@pytest.mark.parametrize("how", list(DAMAGE))
@pytest.mark.parametrize("command", ["evaluate", "sample", "analyze", "thermo"])
def test_damaged_run_directories_give_one_line(tmp_path, tiny_run, capsys, how, command):
    data, good = tiny_run
    run = shutil.copytree(good, tmp_path / "run")
    _damage(run, how)
    before = snapshot(run, data)
    argv = {"evaluate": ["evaluate", run, "--data", data, "--iw-samples", 2],
            "sample": ["sample", run, "--n", 5, "--out", tmp_path / "s.h5"],
            "analyze": ["analyze", run, "--data", data, "--out", tmp_path / "report"],
            "thermo": ["thermo", run, "--temperatures", 2.5, "--n", 10,
                       "--out", tmp_path / "t.json"]}
    needle = DAMAGE[how][2]
    if how == "config-bad-settings" and command == "analyze":
        needle = "epochs"          # analyze reads the settings only to pair runs with data
    assert_refused(cli(argv[command], capsys), needle)
    assert unchanged(before)
    assert not (tmp_path / "s.h5").exists() and not (tmp_path / "report").exists()
    assert not (tmp_path / "t.json").exists()
