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
