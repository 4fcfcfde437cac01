"""The package's shape (docs/architecture.md): layers import downwards only, also inside
subpackages, no cycles (imports inside functions counted), no TensorFlow below the
models, TensorFlow Probability imported in one module, no module much over 400 lines but
the numba kernels."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "isingvae"

#: layer of each top-level module or subpackage; imports go to the same layer or below
LAYERS = {
    "errors": 0, "_validate": 0, "_atomic": 0, "_locks": 0, "random": 0, "progress": 0,
    "_version": 0,
    "lattice": 0, "exact": 0, "stats": 0,
    "mc": 1, "storage": 2, "generation": 3, "data": 4, "models": 5, "training": 6,
    "evaluation": 7, "analysis": 8, "run": 9, "cli": 10,
    "__main__": 11,
}
#: layers of the modules inside a subpackage, for those cut into steps that build on each
#: other; a module imports siblings of its own layer or below
SUBLAYERS = {
    "data": {"splits": 0, "symmetry": 0, "tfdata": 1, "dataset": 2},
    "evaluation": {"draws": 0, "importance": 0, "neural_mcmc": 0, "heads": 0,
                   "likelihood": 1, "sampling": 1, "thermo": 1},
    "run": {"plan": 0, "report": 0, "steps": 1},
}
#: parts of the package that never touch TensorFlow or Keras, not even when called
NO_TENSORFLOW = ("exact", "lattice", "stats", "mc", "storage", "generation", "random", "_locks",
                 "_atomic", "_validate", "progress")


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        yield rel.parts, path, ast.parse(path.read_text())


def _imports(tree):
    """(target module, line, at top level?) of every import of the package."""
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] if node.module != "isingvae" else \
                [f"isingvae.{a.name}" for a in node.names]
            for name in names:
                yield name, node.lineno, id(node) in top
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno, id(node) in top


def test_layers_import_downwards_only():
    wrong = []
    for parts, path, tree in _modules():
        if parts[0] in ("__init__", "_keras_hook"):
            continue
        here = LAYERS[parts[0]]
        for name, line, _ in _imports(tree):
            bits = name.split(".")
            if bits[0] != "isingvae" or len(bits) < 2 or bits[1] == parts[0]:
                continue
            if LAYERS[bits[1]] > here:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not wrong, wrong


def _module_name(parts) -> str:
    return ".".join(("isingvae", *parts)).removesuffix(".__init__")


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _targets(tree):
    """(module, line) of every import of the package, at any depth; ``from pkg import
    sub`` counts as an import of the submodule ``pkg.sub``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and \
                node.module.startswith("isingvae"):
            subs = [f"{node.module}.{a.name}" for a in node.names
                    if _is_module(f"{node.module}.{a.name}")]
            for name in subs or [node.module]:
                yield name, node.lineno
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("isingvae"):
                    yield a.name, node.lineno


def test_no_import_cycles_counting_imports_inside_functions():
    graph = {_module_name(parts): {n for n, _ in _targets(tree)}
             for parts, _, tree in _modules()}
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in graph.get(node, ()):
            # a package's __init__ importing its own submodules, or a submodule reaching
            # its package's lazy names, is not a cycle
            if nxt == node or node.startswith(nxt + ".") or nxt.startswith(node + ".") \
                    or nxt not in graph:
                continue
            assert state.get(nxt) != 1, " -> ".join([*stack, node, nxt])
            if nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])


def test_subpackages_import_their_own_steps_downwards_only():
    wrong, unlisted = [], []
    for parts, path, tree in _modules():
        if len(parts) != 2 or parts[0] not in SUBLAYERS or parts[1] == "__init__":
            continue
        layers = SUBLAYERS[parts[0]]
        if parts[1] not in layers:
            unlisted.append(str(path.relative_to(ROOT)))
            continue
        for name, line in _targets(tree):
            bits = name.split(".")
            if len(bits) >= 3 and bits[1] == parts[0] and bits[2] in layers \
                    and layers[bits[2]] > layers[parts[1]]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not unlisted, f"give these modules a layer in SUBLAYERS: {unlisted}"
    assert not wrong, wrong


def test_tensorflow_probability_is_imported_in_one_module():
    found = sorted({str(path.relative_to(ROOT)) for _, path, tree in _modules()
                    for name, _, _ in _imports(tree)
                    if name.split(".")[0] == "tensorflow_probability"})
    assert found == ["isingvae/models/_tfp.py"], found


def test_lower_layers_never_import_tensorflow():
    found = [f"{path.relative_to(ROOT)}:{line}"
             for parts, path, tree in _modules() if parts[0].removesuffix(".py") in NO_TENSORFLOW
             for name, line, _ in _imports(tree)
             if name.split(".")[0] in ("tensorflow", "keras", "tensorflow_probability")]
    assert not found, found


def test_modules_stay_small():
    long = [f"{path.relative_to(ROOT)} ({n} lines)" for _, path, _ in _modules()
            if (n := len(path.read_text().splitlines())) > 420 and "kernels" not in path.name]
    assert not long, long
