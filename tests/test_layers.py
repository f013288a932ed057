"""The layer contract, read from the source: stages import only stages below them, nothing imports in a
circle, tagging never imports training, and the OTIO adapters stay free of PyAV and TensorFlow. The adapters
package (``adapters/``, installed as ``cinemanet_edit_adapters``) is part of the graph: its own layer, between
the stages it writes from and the format registry that lists it.

Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cinemanet_edit"
ADAPTERS = ROOT / "adapters"
PACKAGES = {"cinemanet_edit": PACKAGE, "cinemanet_edit_adapters": ADAPTERS}

# Lowest first. A module may import from its own layer or below, never above.
LAYERS: list[set[str]] = [
    {"__init__", "errors", "types", "timecode", "taxonomy", "schema", "sanitize", "files", "backbone"},  # foundations
    {"layout", "cache", "decode", "annotate", "aggregate", "decide", "corrections", "sampling", "models"},  # stages
    {"adapters"},  # the OTIO adapter plugins: every format we write renders a layout
    # the shot detector's network; the format registry; the catalogue
    {"transnetv2", "formats", "catalogue", "compaction"},
    {"runtimes"},  # where both networks run: built, exported, cached, chosen
    {"classify", "shots"},  # frames -> probabilities; frames -> shots
    # timelines in; plans to probabilities; selects; catalogue search and recall; the page
    {"timeline", "scoring", "select", "search", "recall", "report"},
    {"pipeline"},  # the stages composed
    {"resolve", "training", "archive", "engines", "index"},  # applications of the library
    {"cli", "__main__"},
]
ADAPTERS_MAY_USE = {"timecode", "layout", "sanitize", "annotate", "taxonomy", "schema", "files", "errors", "types"}


def _ours(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in PACKAGES)


def _imports(path: Path, package_parts: list[str]) -> set[str]:
    """Full dotted names of our modules (both packages) imported by ``path``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if _ours(target):
                if node.module is None or target in PACKAGES:  # from . import x, from package import x
                    found.update(f"{target}.{a.name}" for a in node.names)
                else:
                    found.add(target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if _ours(a.name))
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports ("from .x import name" resolved to the module that holds name)."""
    raw = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            name = ".".join([package, *path.relative_to(folder).with_suffix("").parts])
            if path.name == "__init__.py":
                name = name.rsplit(".__init__", 1)[0]
                parts = name.split(".")
            else:
                parts = name.split(".")[:-1]
            raw[name] = _imports(path, parts)
    modules = set(raw) | set(PACKAGES)

    def resolve(target: str) -> str:
        while target not in modules and "." in target:
            target = target.rsplit(".", 1)[0]
        return target

    return {m: {resolve(t) for t in targets} - {m} for m, targets in raw.items()}


def _top(module: str) -> str:
    """The stage a module belongs to: its first name under the package (``training.job`` -> ``training``);
    every module of the adapters package is the stage "adapters"."""
    if module.split(".")[0] == "cinemanet_edit_adapters":
        return "adapters"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(stage: str) -> int:
    for number, layer in enumerate(LAYERS):
        if stage in layer:
            return number
    raise AssertionError(f"{stage} is in no layer: add it to LAYERS in tests/test_layers.py")


def test_every_module_has_a_layer_and_imports_only_downwards():
    problems = []
    for module, imports in _graph().items():
        here = _layer(_top(module))
        for target in imports:
            there = _layer(_top(target))
            if there > here:
                problems.append(f"{module} (layer {here}) imports {target} (layer {there})")
    assert not problems, "\n".join(sorted(problems))


def test_no_import_cycles():
    edges = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_the_graph_covers_the_adapters_package():
    edges = _graph()
    assert "cinemanet_edit.layout" in edges["cinemanet_edit_adapters.fcpxml"]
    assert "cinemanet_edit_adapters.fcpxml" in edges["cinemanet_edit.formats"]  # the registry lists the adapters


def test_tagging_never_imports_training():
    for module, imports in _graph().items():
        if _top(module) in ("training", "cli", "__main__"):
            continue
        assert not any(_top(t) == "training" for t in imports), module


def test_adapters_use_only_light_modules():
    for path in (ROOT / "adapters").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                assert name.split(".")[0] not in ("av", "tensorflow", "keras", "ai_edge_litert"), (path.name, name)
                if name.startswith("cinemanet_edit."):
                    assert name.split(".")[1] in ADAPTERS_MAY_USE, (path.name, name)
