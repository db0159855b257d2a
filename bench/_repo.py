"""A large generated repository, written straight into a bare repo with `git fast-import`.

50,000 small source files in 100 packages, then a few thousand commits that each touch a
handful of files, as a busy project's history does. Deterministic: the same arguments give
the same commits, so runs of the bench compare.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

PACKAGES = 100
EPOCH = 1_700_000_000  # commit timestamps start here, one minute apart


def file_path(i: int) -> str:
    return f"src/pkg{i % PACKAGES:03d}/module_{i:05d}.py"


def file_text(i: int, revision: int = 0) -> bytes:
    """About 300 bytes of Python; `revision` makes a changed version of it."""
    body = "".join(f"def f{i}_{j}(x):\n    return x * {j} + {revision}\n\n" for j in range(6))
    return f'"""Module {i} (revision {revision})."""\n\n{body}'.encode()


def _data(content: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(content), content)


def _commit(branch: str, n: int, message: str, changes: list[bytes]) -> bytes:
    when = EPOCH + 60 * n
    who = b"Dev Eloper <dev@example.org> %d +0000\n" % when
    head = b"commit refs/heads/%s\nauthor %scommitter %s" % (branch.encode(), who, who)
    return head + _data(message.encode()) + b"".join(changes)


def stream(files: int, commits: int, branch: str, seed: int = 1) -> Iterator[bytes]:
    """The fast-import commands: one commit adding every file, then small edits."""
    rng = random.Random(seed)
    yield _commit(branch, 0, "Initial import", [b"M 100644 inline README.md\n" + _data(b"# Big\n")])
    batch = 5_000  # add the files in commits of 5,000 so no single command is huge
    for start in range(0, files, batch):
        changes = [b"M 100644 inline %s\n%s" % (file_path(i).encode(), _data(file_text(i)))
                   for i in range(start, min(files, start + batch))]
        yield _commit(branch, 1 + start // batch, f"Add modules {start}..", changes)
    done = 1 + (files + batch - 1) // batch
    for n in range(done, commits):
        touched = rng.sample(range(files), rng.randint(1, 8))
        changes = [b"M 100644 inline %s\n%s" % (file_path(i).encode(), _data(file_text(i, n)))
                   for i in touched]
        yield _commit(branch, n, f"Change {len(touched)} modules ({n})", changes)


def generate(bare: Path, files: int, commits: int, branch: str = "main") -> str:
    """Replace `branch` in the bare repository with the generated history; returns its tip."""
    importer = subprocess.Popen(["git", "fast-import", "--quiet", "--force"], cwd=bare,
                                stdin=subprocess.PIPE)
    assert importer.stdin is not None
    for command in stream(files, commits, branch):
        importer.stdin.write(command)
    importer.stdin.close()
    if importer.wait() != 0:
        raise RuntimeError("git fast-import failed")
    # One pack, as a hosted repository would serve it.
    subprocess.run(["git", "repack", "-a", "-d", "-q"], cwd=bare, check=True)
    return subprocess.run(["git", "rev-parse", branch], cwd=bare, capture_output=True, text=True,
                          check=True).stdout.strip()
