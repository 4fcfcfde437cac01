"""Hostile input (class 6 of the safety checks): one validator per kind of value, used by every
command, so that the same value is accepted or refused alike everywhere, with messages
of one shape (``<flag> must be ..., got <value>``).

``generate``'s cases are the functions named ``test_generate_*``: every value it takes
goes through the one function of :mod:`isingvae._validate` for its kind, and its message
is exactly that function's.
"""

from __future__ import annotations

import math

import pytest
from _safety_helpers import assert_refused, cli

from isingvae import _validate as check
from isingvae.errors import InputError
from isingvae.generation.plan import MAX_TEMPERATURES


def _message(fn, *args, **kw) -> str:
    with pytest.raises(InputError) as info:
        fn(*args, **kw)
    return str(info.value)


# (extra flags, the validator's own message for the same value)
CASES = {
    "L-odd": (["--L", "15"], lambda: _message(check.lattice_size, 15, "--L")),
    "L-small": (["--L", "2"], lambda: _message(check.lattice_size, 2, "--L")),
    "samples-zero": (["--samples", "0"], lambda: _message(check.count, "--samples", 0)),
    "samples-negative": (["--samples", "-5"], lambda: _message(check.count, "--samples", -5)),
    "chains-zero": (["--chains", "0"], lambda: _message(check.count, "--chains", 0)),
    "seed-negative": (["--seed", "-1"], lambda: _message(check.seed, -1, "--seed")),
    "seed-2^63": (["--seed", str(2**63)], lambda: _message(check.seed, 2**63, "--seed")),
    "J-zero": (["--J", "0"], lambda: _message(check.real, "--J", 0.0, positive=True)),
    "J-inf": (["--J", "inf"], lambda: _message(check.real, "--J", math.inf, positive=True)),
    "h-nan": (["--h", "nan"], lambda: _message(check.real, "--h", math.nan)),
    "temperature-zero": (["--temperatures", "0"], lambda: _message(check.temperatures, [0.0])),
    "temperature-nan": (["--temperatures", "nan"],
                        lambda: _message(check.temperatures, [math.nan])),
}
GRID = {
    "t-count-zero": (["--t-count", "0"],
                     lambda: _message(check.count, "--t-count", 0, hi=MAX_TEMPERATURES)),
    "t-count-huge": (["--t-count", str(10**12)],
                     lambda: _message(check.count, "--t-count", 10**12, hi=MAX_TEMPERATURES)),
    "t-min-negative": (["--t-min", "-1"],
                       lambda: _message(check.real, "--t-min", -1.0, positive=True)),
    "t-max-inf": (["--t-max", "inf"],
                  lambda: _message(check.real, "--t-max", math.inf, positive=True)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_generate_values_go_through_the_one_validator_of_their_kind(case, tmp_path, capsys):
    args, expected = CASES[case]
    argv = ["generate", "--temperatures", "2.0", "--out", tmp_path / "x.h5", "--quiet", *args]
    code, out, err = cli(argv, capsys)
    assert_refused((code, out, err))
    assert err == f"isingvae generate: error: {expected()}\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", list(GRID))
def test_generate_grid_values_go_through_the_one_validator_of_their_kind(case, tmp_path,
                                                                        capsys):
    grid = {"--t-min": "1.0", "--t-max": "3.0", "--t-count": "3"}
    args, expected = GRID[case]
    grid[args[0]] = args[1]
    argv = ["generate", "--out", tmp_path / "x.h5", "--quiet",
            *[x for kv in grid.items() for x in kv]]
    code, out, err = cli(argv, capsys)
    assert_refused((code, out, err))
    assert err == f"isingvae generate: error: {expected()}\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed", [0, 1, 2**32, 2**63 - 1])
def test_generate_accepts_every_seed_the_validator_accepts(seed):
    from isingvae.generation import GenerationPlan

    plan = GenerationPlan(L=4, temperatures=(2.0,), samples=1, chains=1, seed=seed)
    assert plan.seed == check.seed(seed)


def test_generate_non_numbers_are_refused_in_one_line(tmp_path, capsys):
    # argparse's own refusals (a value that is not a number) have the same one-line shape
    with pytest.raises(SystemExit) as info:
        cli(["generate", "--temperatures", "2", "--L", "sixteen", "--out", tmp_path / "x.h5"],
            capsys)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sixteen" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ the learning side


def test_every_command_takes_the_same_seeds(tmp_path, tiny_run, capsys):
    """One validator per kind of value: a seed is an integer from 0 to 2^63 - 1 for every
    command (evaluate used to accept -1, which sample refused)."""
    data, run = tiny_run
    for bad in (-1, 2**63):
        for argv in (["evaluate", run, "--iw-samples", 2, "--seed", bad],
                     ["sample", run, "--n", 5, "--out", tmp_path / "s.h5", "--seed", bad],
                     ["analyze", run, "--data", data, "--out", tmp_path / "r", "--seed", bad],
                     ["train", data, "--out", tmp_path / "t", "--seed", bad]):
            assert_refused(cli(argv, capsys), "from 0 to 2^63 - 1", str(bad))
    assert not list(tmp_path.iterdir())


def test_train_refuses_what_generate_refuses(tmp_path, capsys):
    """A file of odd L (which generate would never make) and a warm-up of 10^12 epochs."""
    import numpy as np

    from isingvae import lattice
    from isingvae.storage import write_ising_file

    rng = np.random.default_rng(0)
    s = rng.choice(np.array([-1, 1], np.int8), size=(400, 3, 3))
    odd = write_ising_file(tmp_path / "odd.h5", L=3, J=1.0, h=0.0, seed=0,
                           algorithm="metropolis", spins=s,
                           temperature=np.repeat([2.0, 3.0], 200),
                           energy=lattice.energy(s), magnetization=lattice.magnetization(s),
                           chain=np.arange(400))
    assert_refused(cli(["train", odd, "--out", tmp_path / "r"], capsys), "odd.h5", "got 3")
    assert_refused(cli(["train", odd, "--out", tmp_path / "r", "--kl-warmup", 10**12],
                       capsys), "--kl-warmup")
    assert not (tmp_path / "r").exists()
