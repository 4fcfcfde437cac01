"""Single source of the package version (read by setuptools and by ``isingvae --version``)."""

__version__ = "0.2.0"
