"""The package's shape (docs/architecture.md): layers import downwards only, no cycles,
no TensorFlow below the models, no module much over 400 lines but the numba kernels."""

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
    "evaluation": 7, "analysis": 8, "pipeline": 9, "run_report": 9, "cli": 10,
    "__main__": 11,
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


def test_no_import_cycles_at_module_level():
    graph = {}
    for parts, _, tree in _modules():
        name = ".".join(("isingvae", *parts)).removesuffix(".__init__")
        graph[name] = {n for n, _, top in _imports(tree) if top and n.startswith("isingvae.")}
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in graph.get(node, ()):
            # importing a submodule of one's own package from its __init__ is not a cycle
            if nxt == node or node.startswith(nxt + ".") or nxt not in graph:
                continue
            assert state.get(nxt) != 1, " -> ".join([*stack, node, nxt])
            if nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])


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
