"""The package's layout rules (CONTRIBUTING.md): no import circles, one module decides the path,
small modules, and the metric list read from the registry."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import torch_keras_acc as tka

PACKAGE = Path(tka.__file__).parent
MODULES = {p.stem: p for p in PACKAGE.glob("*.py")}
# The paths: only the dispatcher chooses among them (a path may build on the reference; the
# triton path's first-use checks, _verify, compare its kernels with the reference).
PATHS = {"_reference", "_cpu_fast", "_triton", "_triton_consts", "_triton_kernels", "_triton_shared", "_triton_wrappers", "_fused"}
PATH_IMPORTERS = {"_dispatch", "_verify"} | PATHS


def _imports(path: Path) -> set[str]:
    """The package modules ``path`` imports anywhere (module level, functions, TYPE_CHECKING blocks)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("torch_keras_acc"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:  # from torch_keras_acc import a, b
                found |= {alias.name for alias in node.names if alias.name in MODULES}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("torch_keras_acc.")}
    found.discard(path.stem)
    return {m for m in found if m in MODULES and m != "__init__"}


GRAPH = {name: _imports(path) for name, path in MODULES.items() if name != "__init__"}


def test_the_import_graph_has_no_circles():
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == "open":
                cycle = trail[trail.index(nxt):] + [node, nxt] if nxt in trail else [node, nxt]
                pytest.fail(f"import circle: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [])


def test_only_the_dispatcher_imports_the_paths():
    offenders = {name: sorted(GRAPH[name] & PATHS) for name in GRAPH if name not in PATH_IMPORTERS and GRAPH[name] & PATHS}
    assert not offenders, f"only _dispatch.py chooses a path; these import one directly: {offenders}"


def test_the_rules_import_only_torch():
    assert GRAPH["_tf_rules"] == set()
    tree = ast.parse(MODULES["_tf_rules"].read_text())
    roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    roots |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert roots - set(sys.stdlib_module_names) <= {"torch"}, roots  # torch and the standard library


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name):
    lines = len(MODULES[name].read_text().splitlines())
    limit = 200 if name == "_mean" else 450  # the base class: states, pipeline, compute
    assert lines <= limit, f"{name}.py has {lines} lines (limit {limit})"


def test_the_exports_are_the_registry():
    classes = {e.cls.__name__ for e in tka.registry.ENTRIES}
    assert classes <= set(tka.__all__)
    for name in classes:
        assert getattr(tka, name) is next(e.cls for e in tka.registry.ENTRIES if e.cls.__name__ == name)
    exported_metrics = {n for n in tka.__all__ if isinstance(getattr(tka, n), type) and issubclass(getattr(tka, n), tka.KerasMeanMetric)}
    # MeanMetricWrapper wraps any function: no Keras name of its own, so no registry row.
    assert exported_metrics - {"KerasMeanMetric", "MeanMetricWrapper"} == classes, "a metric class is exported but missing from the registry"


def test_contributing_names_every_module():
    text = (PACKAGE.parent / "CONTRIBUTING.md").read_text()
    missing = [name for name in MODULES if f"`{name}.py`" not in text]
    assert not missing, f"CONTRIBUTING.md does not say what these modules are for: {missing}"
