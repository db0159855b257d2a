"""The layout's figures: imports across the tiers, modules per package, the longest functions,
and how far `RunContext` travels.

    .venv/bin/python bench/layout.py [ROOT]      # ROOT: a checkout (default: this one)

Read from the source alone (no imports), so it measures any commit's checkout the same way:
`git worktree add /tmp/old <commit>` and point it there.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

TIERS = ("app", "core", "jobs")


def main(root: Path) -> None:
    crossings: Counter[tuple[str, str]] = Counter()
    per_package: Counter[str] = Counter()
    lengths: list[tuple[int, str]] = []
    context_users: set[str] = set()
    context_modules: set[str] = set()
    for tier in TIERS:
        for path in sorted((root / tier).rglob("*.py")) if (root / tier).is_dir() else ():
            rel = path.relative_to(root)
            per_package[rel.parent.as_posix()] += 1
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top in TIERS and top != tier:
                        crossings[(tier, top)] += 1
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    where = f"{rel.as_posix()}:{node.name}"
                    lengths.append((node.end_lineno - node.lineno + 1, where))
                    annotations = [a.annotation for a in node.args.args if a.annotation]
                    if any("RunContext" in ast.unparse(a) for a in annotations):
                        context_users.add(where)
                        context_modules.add(rel.as_posix())
    print("imports across tiers (import statements):")
    for source in TIERS:
        for target in TIERS:
            if source != target:
                print(f"  {source:>4} → {target:<4} {crossings.get((source, target), 0):4}")
    print("modules per package:")
    for package, count in sorted(per_package.items()):
        print(f"  {package:<18} {count:3}")
    print("longest functions (lines):")
    for length, where in sorted(lengths, reverse=True)[:5]:
        print(f"  {length:4}  {where}")
    print(f"functions taking a RunContext: {len(context_users)} in {len(context_modules)} modules")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
