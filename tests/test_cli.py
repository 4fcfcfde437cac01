"""The command group: version, start-up cost, and one-line errors with exit status 2."""

import shutil
import subprocess
import sys
import time

import pytest

import isingvae
from isingvae import cli

HEAVY = ("tensorflow", "keras", "tensorflow_probability", "numba", "h5py", "scipy", "matplotlib")


def run_cli(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "isingvae", *args],
        capture_output=True, text=True, timeout=timeout,
    )


def test_version_in_process(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"isingvae {isingvae.__version__}"


def test_version_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from isingvae.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    loaded = set(out.strip().splitlines()[-1].split(","))
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_version_console_script_is_fast():
    exe = shutil.which("isingvae")
    if exe is None:
        pytest.skip("console script not on PATH (package not installed with pip)")
    best = min(_wall([exe, "--version"]) for _ in range(3))
    assert best < 1.0, f"isingvae --version took {best:.2f} s"


def _wall(cmd):
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert res.stdout.startswith("isingvae ")
    return time.perf_counter() - t


def test_python_dash_m_matches_console_script():
    res = run_cli("--version")
    assert res.returncode == 0
    assert res.stdout.strip() == f"isingvae {isingvae.__version__}"


def test_no_command_prints_help_and_exits_2():
    res = run_cli()
    assert res.returncode == 2
    for name in cli.COMMANDS:
        assert name in res.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--L", "sixteen"],
        ["train", "data.h5", "--flow", "glow"],
        ["train", "data.h5", "--head", "vib-colour"],
        ["evaluate", "run", "--iw-samples", "1e3x"],
        ["frobnicate"],
    ],
)
def test_bad_flag_values_give_one_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert argv[-1] in err


def test_every_contract_command_is_registered():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) >= {"generate", "train", "evaluate", "sample", "analyze", "run"}
