#!/usr/bin/env python3
"""Lists the `crate::` imports between dtag's modules and fails when they form a cycle.

A module is a top-level entry of `src/` (a file `src/x.rs` or a folder `src/x/`), and, inside
each folder, each of its files or sub-folders. Edges come from every `crate::a::b` path in the
source (use declarations, grouped `use crate::{a, b}` lists and inline paths), and from
`super::x` inside folders. Unit tests (a `#[cfg(test)] mod` at the end of a file) are left out:
a test may use a later stage to build what it checks (a trained model, say) without the stage
itself depending on it. The library and the binary (`src/main.rs`, `src/cli/`) are separate
crates and are checked separately.

Usage: python3 scripts/module_cycles.py [--list]   (exit 1 on a cycle)
"""
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
BIN_ROOTS = {"main", "cli"}


def strip_comments_and_strings(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return text


def module_path(file):
    """`src/a/b/c.rs` -> ["a", "b", "c"]; `mod.rs` names its folder."""
    parts = list(file.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    return parts


def expand_use_tree(prefix, tree):
    """`a::{b, c::d}` -> ["a::b", "a::c::d"] (one level of nesting per call, recursively)."""
    tree = tree.strip()
    if not tree:
        return [prefix] if prefix else []
    m = re.match(r"^([\w:]*?)(::)?\{(.*)\}$", tree, flags=re.S)
    if m:
        head = m.group(1)
        base = f"{prefix}::{head}" if prefix and head else (prefix or head)
        inner, depth, part, out = m.group(3), 0, "", []
        for ch in inner + ",":
            if ch == "," and depth == 0:
                out.extend(expand_use_tree(base, part))
                part = ""
                continue
            depth += ch == "{"
            depth -= ch == "}"
            part += ch
        return out
    tree = re.split(r"\s+as\s+", tree)[0]
    return [f"{prefix}::{tree}" if prefix else tree]


def without_unit_tests(text):
    m = re.search(r"^#\[cfg\(test\)\]\s*\n\s*mod \w+", text, flags=re.M)
    return text[: m.start()] if m else text


def referenced_paths(text):
    text = strip_comments_and_strings(without_unit_tests(text))
    paths = []
    for m in re.finditer(r"\buse\s+(crate|super)\s*::\s*([^;]*);", text, flags=re.S):
        for p in expand_use_tree("", re.sub(r"\s+", " ", m.group(2))):
            paths.append((m.group(1), p.replace(" ", "")))
    for m in re.finditer(r"\b(crate|super)((?:::\w+)+)", text):
        paths.append((m.group(1), m.group(2)[2:]))
    return paths


def edges_of(files):
    edges = set()
    for file in files:
        here = module_path(file)
        for root, path in referenced_paths(file.read_text(encoding="utf-8")):
            segments = [s for s in path.split("::") if s and s != "self"]
            if root == "crate":
                target = segments
            else:
                # `super` from `a/b.rs` (module a::b) is `a`; from `a/b/mod.rs` too.
                target = here[:-1] + segments
            if not target:
                continue
            # Compare at the first level where the two paths part.
            depth = 0
            while depth < min(len(here), len(target)) and here[depth] == target[depth]:
                depth += 1
            if depth >= len(here) or depth >= len(target):
                continue  # a module naming itself or its own descendants / ancestors
            a = "::".join(here[: depth + 1])
            b = "::".join(target[: depth + 1])
            if a != b and module_exists(target[: depth + 1]):
                edges.add((a, b))
    return edges


def module_exists(parts):
    base = SRC.joinpath(*parts)
    return base.with_suffix(".rs").exists() or base.is_dir()


def cycles(edges):
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                out.append(sorted(scc))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    all_files = sorted(SRC.rglob("*.rs"))
    crates = {
        "library": [f for f in all_files if Path(f.relative_to(SRC).parts[0]).stem not in BIN_ROOTS],
        "binary": [f for f in all_files if Path(f.relative_to(SRC).parts[0]).stem in BIN_ROOTS],
    }
    failed = False
    for name, files in crates.items():
        if not files:
            continue
        edges = edges_of(files)
        if "--list" in sys.argv:
            print(f"# {name}: {len(edges)} imports between modules")
            for a, b in sorted(edges):
                print(f"{a} -> {b}")
        for scc in cycles(edges):
            failed = True
            print(f"{name}: module cycle among {', '.join(scc)}", file=sys.stderr)
            for a, b in sorted(edges):
                if a in scc and b in scc:
                    print(f"  {a} -> {b}", file=sys.stderr)
    if failed:
        sys.exit(1)
    print("no module cycles")


if __name__ == "__main__":
    main()
