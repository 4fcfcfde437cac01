"""Register the package's Keras objects as soon as Keras is usable, without importing it.

``keras.saving.load_model("model.keras")`` finds custom classes by their registered
names (``"isingvae>VAE"``), so they must be registered before a saved run is loaded.
:func:`isingvae.models.register` registers them, but it costs TensorFlow's import
(4.3 to 4.9 s on the 2-core development machine, against 0.12 s for ``import
isingvae``), which ``import isingvae`` and ``isingvae --version`` must not pay.  Keras itself will
not find them: its loader imports modules by name only for Keras's own packages.  So
this hook stays, as the one way to keep both promises (a cheap import, and
``load_model`` working after ``import isingvae``).

:func:`install` watches the imports of ``keras`` and ``tensorflow``: when both are
fully imported (TensorFlow imports Keras half-way through its own start-up, and Keras
imports TensorFlow, so whichever finishes last triggers it), it calls
:func:`isingvae.models.register`.  If both are already imported, it registers at once.
A user who imports ``isingvae`` and later loads a model never has to think about it."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

_WATCHED = ("keras", "tensorflow")
_done = False


def _ready(name: str) -> bool:
    mod = sys.modules.get(name)
    spec = getattr(mod, "__spec__", None)
    return mod is not None and not getattr(spec, "_initializing", False)


def _maybe_register() -> None:
    global _done
    if _done or not all(_ready(n) for n in _WATCHED):
        return
    _done = True
    try:
        importlib.import_module("isingvae.models").register()
    except ImportError:      # a Keras without the TensorFlow backend: nothing to register
        _done = False


class _Loader(importlib.abc.Loader):
    """Delegates to the real loader, then tries to register."""

    def __init__(self, inner):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        try:
            self._inner.exec_module(module)
        finally:
            # the import machinery clears _initializing only after exec_module returns
            spec = getattr(module, "__spec__", None)
            if spec is not None:
                spec._initializing = False
            _maybe_register()

    def __getattr__(self, name):        # get_resource_reader, is_package, ...
        return getattr(self._inner, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _WATCHED or _done:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


def install() -> None:
    """Register now if Keras and TensorFlow are loaded, else when they are."""
    _maybe_register()
    if not _done and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
