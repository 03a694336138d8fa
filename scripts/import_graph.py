"""The import graph of landau_nb, read from the source with ast (lazy imports inside
functions included): modules, edges, circles (strongly connected components), floors (the
longest chain of imports below a module, plus one) and, for the package's wings, every import
that runs from a lower wing to a higher one.

    python scripts/import_graph.py            # summary
    python scripts/import_graph.py --edges    # also every edge

tests/test_architecture.py asserts on the same functions: no circle, no upward import.
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "landau_nb"

#: the wings from the bottom up; a module may import from its own wing and the ones below.
#: Private helpers at the top level (``_checks``, ``_version``, ``_seeding``) are the floor.
WINGS = ("_base", "equation", "scores", "solver", "vlasov", "experiments", "book", "_top")


def module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def edges(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the landau_nb modules it imports (a package import counts as its __init__;
    ``from pkg import sub`` counts as the submodule when it is one)."""
    mods = modules(root)
    out: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, is_pkg, node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != mod and t.startswith("landau_nb"):
                    out[mod].add(t)
    return out


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return comps


def floors(graph: dict[str, set[str]]) -> dict[str, int]:
    """1 + the longest chain of imports below each module (modules of one circle share a floor)."""
    memo: dict[str, int] = {}

    def f(v, seen=()):
        if v in memo:
            return memo[v]
        if v in seen:
            return 0
        memo[v] = 1 + max((f(w, seen + (v,)) for w in graph[v] if w not in seen), default=0)
        return memo[v]

    for v in graph:
        f(v)
    return memo


def wing(mod: str) -> str:
    parts = mod.split(".")
    if len(parts) == 1 or parts[1] in ("__main__",):
        return "_top"
    if len(parts) == 2 and parts[1].startswith("_"):
        return "_base"
    return parts[1] if parts[1] in WINGS else "_unplaced"


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports from a module to one in a higher wing (or any import of an unplaced module)."""
    rank = {w: i for i, w in enumerate(WINGS)}
    bad = []
    for a, targets in graph.items():
        for b in sorted(targets):
            wa, wb = wing(a), wing(b)
            if wa == "_unplaced" or wb == "_unplaced" or rank[wb] > rank[wa]:
                bad.append((a, b))
    return bad


def private_imports(root: Path = ROOT) -> list[tuple[str, str]]:
    """(importing module, name) for every private name (``_x``) imported from another wing,
    the private floor and ``__version__`` excepted."""
    mods = modules(root)
    bad = []
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = _resolve(mod, is_pkg, node)
            if not base.startswith("landau_nb"):
                continue
            for a in node.names:
                target = f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                private = a.name.startswith("_") and not a.name.startswith("__")
                private_module = base.rpartition(".")[2].startswith("_") and wing(base) != "_base"
                if (private or private_module) and wing(target) != wing(mod):
                    bad.append((mod, f"{base}.{a.name}"))
    return bad


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--edges", action="store_true")
    args = p.parse_args(argv)
    g = edges()
    fl = floors(g)
    sizes = {m: len(path.read_text().splitlines()) for m, path in modules().items()}
    big = max(sizes, key=sizes.get)
    print(f"modules: {len(g)}, imports: {sum(map(len, g.values()))}, floors: {max(fl.values())}")
    print(f"circles: {circles(g) or 'none'}")
    up = upward(g)
    print(f"imports that run up a wing: {len(up)}" + "".join(f"\n  {a} -> {b}" for a, b in up))
    priv = private_imports()
    print(f"private names imported across wings: {len(priv)}" + "".join(f"\n  {a} <- {b}" for a, b in priv))
    print(f"largest module: {big} ({sizes[big]} lines)")
    if args.edges:
        for a in sorted(g):
            print(f"{a} [{fl[a]}] -> {', '.join(sorted(g[a]))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
