"""Where a web worker spends its time under load: py-spy samples, summed per function.

py-spy (`pip install py-spy`) attaches to a running process, so the server runs exactly as
benchmarked. Threads blocked in a system call count as idle and are left out; a thread whose
system call has returned and which waits for the GIL is charged to that call's line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*):\d+\)$")


def py_spy() -> str | None:
    """py-spy on PATH, or installed next to this Python (a venv's bin/)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def available() -> bool:
    return py_spy() is not None


def start(pid: int, seconds: float, out: Path) -> subprocess.Popen:
    """Sample `pid` for `seconds` into `out` (collapsed stacks, one per line)."""
    return subprocess.Popen([py_spy() or "py-spy", "record", "--format", "raw", "--rate", "200",
                             "--duration", str(int(seconds)), "--output", str(out),
                             "--pid", str(pid), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summary(raw: Path, top: int = 12) -> list[tuple[float, str]]:
    """(share of samples, where) for the packages, then the functions, that ran most.

    Each sample is charged to the function running at the time (its own time, callers not
    included), and to the package that function belongs to: redis, rq, flask, gunicorn...
    """
    packages: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        match = _FRAME.match(stack.split(";")[-1])
        if match is None:
            continue
        packages[_package(match["file"])] += int(count)
        functions[f"{match['function']} ({Path(match['file']).name})"] += int(count)
    total = sum(packages.values())
    if not total:
        return []
    return ([(n / total, f"package {name}") for name, n in packages.most_common(8)]
            + [(n / total, name) for name, n in functions.most_common(top)])


def _package(path: str) -> str:
    """`redis` for `redis/client.py` (py-spy shortens paths to the import root), `orca app/`
    for Orca's own modules, `stdlib` for a top-level module such as `threading.py`."""
    parts = Path(path).parts
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1:]
    if len(parts) < 2:
        return "stdlib"
    return f"orca {parts[0]}/" if parts[0] in ("app", "jobs") else parts[0]


def profile_during(pid: int, seconds: float, run) -> tuple[object, list[tuple[float, str]]]:
    """Run `run()` while sampling `pid`; returns its result and the summary."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "profile.txt"
        spy = start(pid, seconds, out)
        result = run()
        spy.wait(timeout=seconds + 30)
        return result, summary(out) if out.exists() else []
