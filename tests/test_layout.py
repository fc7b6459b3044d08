"""The package's shape: the three steps of the method, each in its place, imports flowing one way.

Layers, lowest first (DESIGN): shared helpers; preprocessing (data, preprocess); joint learning
(encoders, losses, fusion, modalities); optimisation and evaluation (train, distributed,
metrics, binding); figures and widgets; the course machinery; the command line. A module may
import, at module level, only from its own layer or below, and no module-level imports may go
round in a circle. (A function may import from above on first use -- ``History.plot`` draws with
``xmlab.viz`` -- which keeps ``import xmlab`` free of plotting.)
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "xmlab"
LAYERS = [
    {"utils", "checks", "release"},
    {"data", "preprocess"},
    {"encoders", "losses", "fusion", "modalities"},
    {"train", "distributed", "metrics", "binding"},
    {"viz", "widgets"},
    {"course"},
    {"cli"},
]
MAX_LINES = 350


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    top = module.split(".")[1]
    return next(i for i, names in enumerate(LAYERS) if top in names)


def imports(module: str) -> set[str]:
    """The xmlab modules ``module`` imports at module level (not inside functions)."""
    found = set()
    for node in ast.parse(MODULES[module].read_text()).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("xmlab")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("xmlab"):
            for alias in node.names:  # `from xmlab.train import loop` names a submodule
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return found - {"xmlab"}


GRAPH = {m: imports(m) for m in MODULES if m != "xmlab"}


def test_imports_flow_from_lower_layers_to_higher_ones():
    upward = [
        f"{m} imports {target}"
        for m, targets in GRAPH.items()
        for target in targets
        if layer(target) > layer(m)
    ]
    assert not upward, upward


def test_no_import_cycles():
    state, cycles = {}, []

    def visit(m, path):
        state[m] = "open"
        for target in sorted(GRAPH.get(m, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[m] = "done"

    for m in GRAPH:
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles


def test_every_step_has_its_folder_and_modules_stay_short():
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert {"data", "preprocess", "encoders", "fusion", "train", "metrics", "course"} <= folders
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
