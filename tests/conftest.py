"""Fixtures shared by the data tests (tests/test_data_*.py)."""

import pytest
from _data_helpers import generic_configuration, make_truth

from isingvae.data import IsingDataset


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    """A small file of known configurations and the arrays it was written from."""
    return make_truth(tmp_path_factory.mktemp("data"))


@pytest.fixture
def ds(truth):
    return IsingDataset(truth[0])


@pytest.fixture(scope="module")
def generic():
    """A configuration with no symmetry of its own: all 2 * 8 * L^2 images differ."""
    return generic_configuration()


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """``(data file, run directory)``: a 4 x 4 file of exact samples at two temperatures
    and a tiny VAE trained on it for one epoch.  Tests that change the run copy it."""
    pytest.importorskip("tensorflow")
    from isingvae.training import TrainConfig, train
    from tests._vae_helpers import exact_iid_file

    root = tmp_path_factory.mktemp("tiny")
    data = exact_iid_file(root / "l4.h5", 4, [2.0, 3.0], 512, 3)
    train(data, root / "run", TrainConfig(epochs=1, filters=(4,), units=(8,), latent_dim=2,
                                           batch_size=64), verbose=0)
    return data, root / "run"
