"""Model paths and host paths: what "/workspace/src/app.py" is on the host, and what it is not.

The model names files as the sandbox shows them (under `root`, e.g. /workspace); the editor
works on the host. Symlinks are followed as the sandbox would see them, and anything that ends
up outside root is refused.
"""

from __future__ import annotations

import os
import posixpath
import threading
from pathlib import Path

_MAX_SYMLINKS = 40  # the kernel's own limit on links followed in one lookup (MAXSYMLINKS)


class SandboxPathError(ValueError):
    """A path the model gave is not inside the sandbox's root."""


class WorktreeSandbox:
    """The path mapping both sandboxes share: model paths under `root` map into the worktree."""

    root: str

    def __init__(self, worktree: Path, root: str, stop: threading.Event | None = None) -> None:
        self.worktree = Path(worktree).resolve()
        self.root = root
        self.stop = stop
        """Set when the run is asked to stop: the running command is killed at once."""

    def host_path(self, path: str) -> Path:
        """Maps an absolute path under root to the worktree, following symlinks as the sandbox
        would see them; anything that ends up outside root raises SandboxPathError."""
        parts = _parts_under_root(path, self.root)
        return self.worktree.joinpath(*_resolve_links(self.worktree, parts, self.root, path))


def _parts_under_root(path: str, root: str) -> list[str]:
    """The components of `path` below `root`, after normalising `..`; raises if outside."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise SandboxPathError(
            f"{path!r} is not an absolute path; use an absolute path under {root}, "
            f"e.g. {root}/README.md"
        )
    normal = posixpath.normpath(path)
    if normal != root and not normal.startswith(root.rstrip("/") + "/"):
        raise SandboxPathError(f"{path} is outside the repository; paths must be under {root}")
    return [part for part in normal[len(root) :].split("/") if part]


def _resolve_links(worktree: Path, parts: list[str], root: str, original: str) -> list[str]:
    """Follows symlinks component by component; absolute targets are read in sandbox terms."""
    pending, resolved, followed = list(parts), [], 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if not resolved:
                raise SandboxPathError(f"{original} leads outside {root} through '..' in a link")
            resolved.pop()
            continue
        candidate = worktree.joinpath(*resolved, part)
        if not candidate.is_symlink():
            resolved.append(part)
            continue
        followed += 1
        if followed > _MAX_SYMLINKS:
            raise SandboxPathError(f"{original}: too many levels of symbolic links")
        target = os.readlink(candidate)
        if target.startswith("/"):
            try:
                pending = _parts_under_root(target, root) + pending
            except SandboxPathError:
                raise SandboxPathError(
                    f"{original} is a symbolic link to {target}, outside {root}"
                ) from None
            resolved = []
        else:
            pending = [p for p in target.split("/") if p and p != "."] + pending
    return resolved
