"""The import graph of the eqspike package: modules, floors, cycles, the longest chain, and
the imports that run upward.

    python tools/import_graph.py [--root eqspike] [--dot graph.dot]

Every ``import`` and ``from ... import`` of an eqspike module is an edge, at module level or
inside a function (a lazy import is still a dependency). A package's ``__init__`` counts as
the package. Printed:

* the modules, each with its lines and its *floor*: 0 for a module that imports no other
  eqspike module, else one above the highest floor it imports (modules in a cycle share
  one floor, the cycle's);
* the cycles (strongly connected components of more than one module);
* the longest import chain (the most floors a change at the bottom climbs through);
* the imports that run upward: into a module of a *higher layer* of :data:`LAYERS`, the
  layering the design asks for (ground floor: the model's vocabulary; then files, energy and
  the rate reference, which know nothing of Brian2; then the Brian2 builder and engine;
  then training and analyses; then the command line).

It reads the source only (``ast``), imports nothing, and needs only the standard library.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The intended layers, lowest first: a module may import its own layer and those below.
#: A module belongs to the layer of the longest pattern that is its name or a package above
#: it (``a.b`` covers ``a.b`` and ``a.b.c``; ``eqspike`` covers only the package itself).
LAYERS = [
    ("vocabulary", ["eqspike", "eqspike.errors", "eqspike.threads", "eqspike.spec",
                    "eqspike.data", "eqspike.schedule", "eqspike.rules", "eqspike.parameters",
                    "eqspike.conv",
                    "eqspike.figures", "eqspike.plasticity.rules"]),
    ("files, energy, rate reference", ["eqspike.runfile", "eqspike.energy",
                                       "eqspike.reference"]),
    ("Brian2 builder and engine", ["eqspike.spiking", "eqspike.engine"]),
    # the energy-accuracy curve runs the spiking network: an analysis, above the engine
    ("training and analyses", ["eqspike.training", "eqspike.plasticity",
                               "eqspike.energy.curve"]),
    ("sweeps and command line", ["eqspike.sweep", "eqspike.cli"]),
]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path, name: str, package: str, known: set) -> set:
    """The eqspike modules ``path`` (module ``name``) imports."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1] if node.level > 1 else here
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # "from . import runfile" names a module; "from .spec import X" names spec
            targets = [f"{stem}.{alias.name}" for alias in node.names
                       if f"{stem}.{alias.name}" in known] or [stem]
        else:
            continue
        for target in targets:
            while target and target not in known:      # a name inside a module
                target = target.rpartition(".")[0]
            if target and target.split(".")[0] == package and target != name:
                found.add(target)
    return found


def load_graph(root: Path) -> tuple[dict, dict]:
    """({module: set of imported modules}, {module: lines})."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    known = set(files)
    graph = {name: imports_of(p, name, root.name, known) for name, p in files.items()}
    lines = {name: len(p.read_text().splitlines()) for name, p in files.items()}
    return graph, lines


def strongly_connected(graph: dict) -> list:
    """Tarjan's strongly connected components, each a sorted list."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def floors_and_chain(graph: dict) -> tuple[dict, list]:
    """Each module's floor (cycles condensed) and one longest chain of imports."""
    components = strongly_connected(graph)
    owner = {m: k for k, comp in enumerate(components) for m in comp}
    below = {k: {owner[t] for m in comp for t in graph[m]} - {k}
             for k, comp in enumerate(components)}
    floor, best = {}, {}

    def height(k):
        if k not in floor:
            floor[k], best[k] = 0, None
            for j in below[k]:
                if height(j) + 1 > floor[k]:
                    floor[k], best[k] = floor[j] + 1, j
        return floor[k]

    for k in below:
        height(k)
    top = max(floor, key=lambda k: (floor[k], components[k]))
    chain, k = [], top
    while k is not None:
        chain.append(" = ".join(components[k]))
        k = best[k]
    return {m: floor[owner[m]] for m in graph}, chain


def layer_of(name: str) -> int | None:
    """The layer whose pattern is ``name`` itself, else the one with the longest pattern
    that is a package above it."""
    matches = [(len(p), k) for k, (_, patterns) in enumerate(LAYERS) for p in patterns
               if name == p or (name.startswith(p + ".") and p != "eqspike")]
    return max(matches)[1] if matches else None


def upward_imports(graph: dict) -> list:
    """(importer, imported) pairs where the imported module sits on a higher layer."""
    out = []
    for name, targets in sorted(graph.items()):
        here = layer_of(name)
        for target in sorted(targets):
            there = layer_of(target)
            if here is not None and there is not None and there > here:
                out.append((name, target))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(ROOT / "eqspike"), help="the package folder")
    parser.add_argument("--dot", help="also write the graph in Graphviz dot format")
    args = parser.parse_args(argv)
    graph, lines = load_graph(Path(args.root))
    floor, chain = floors_and_chain(graph)
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    upward = upward_imports(graph)
    print(f"{len(graph)} modules on {max(floor.values()) + 1} floors, "
          f"{sum(len(t) for t in graph.values())} imports, {len(cycles)} cycle(s), "
          f"{len(upward)} import(s) running upward, longest chain {len(chain)} floors")
    for name in sorted(graph, key=lambda m: (-floor[m], m)):
        layer = layer_of(name)
        print(f"  floor {floor[name]:2d}  {name:36s} {lines[name]:5d} lines  layer "
              f"{LAYERS[layer][0] if layer is not None else '?'}")
    for cycle in cycles:
        print("cycle: " + " <-> ".join(cycle))
    print("longest chain: " + " -> ".join(chain))
    for importer, imported in upward:
        print(f"upward: {importer} imports {imported} (layer {LAYERS[layer_of(importer)][0]!r}"
              f" imports {LAYERS[layer_of(imported)][0]!r})")
    unplaced = [m for m in graph if layer_of(m) is None]
    if unplaced:
        print("not in LAYERS: " + ", ".join(sorted(unplaced)))
    if args.dot:
        with open(args.dot, "w") as f:
            f.write("digraph eqspike {\n  rankdir=BT;\n")
            for name, targets in sorted(graph.items()):
                for target in sorted(targets):
                    f.write(f'  "{name}" -> "{target}";\n')
            f.write("}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
