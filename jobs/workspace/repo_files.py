"""Files Orca reads from a repository (its instructions, `.github/orca.yml`): git objects at a
commit, regular blobs only.

Never the worktree, which the agent writes, and never through a link: a committed symlink at
`AGENTS.md` or at `.github` could otherwise point at any file of the worker's, another
repository's worktree included. Each path component is looked up in the commit's own trees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.git import git

_REGULAR = ("100644", "100755")
_TREE = "040000"


class NotRegularFile(Exception):
    """The path exists at the commit but is a link, a folder or a submodule."""


@dataclass(frozen=True)
class Blob:
    path: str
    """The path as the commit spells it (which may differ in case from the one asked for)."""
    sha: str
    size: int


def find_blob(repository: Path, revision: str, path: str, ignore_case: bool = False) -> Blob | None:
    """The regular file at `path` in `revision`, or None when there is none (a link where a
    folder on the way should be is not followed: then there is none).

    Raises NotRegularFile when the path itself is a link, a folder or a submodule."""
    env = _env(repository)
    tree = git("rev-parse", "--verify", f"{revision}^{{tree}}", cwd=repository, env=env).strip()
    parts = path.split("/")
    spelled: list[str] = []
    for depth, part in enumerate(parts):
        entry = _entry(repository, tree, part, ignore_case)
        if entry is None:
            return None
        mode, sha, name = entry
        spelled.append(name)
        if depth < len(parts) - 1 and mode != _TREE:
            return None  # a link or file where a folder should be: there is no such path
        if depth == len(parts) - 1 and mode not in _REGULAR:
            raise NotRegularFile(f"`{'/'.join(spelled)}` is not a regular file (git mode {mode})")
        tree = sha
    size = int(git("cat-file", "-s", tree, cwd=repository, env=env))
    return Blob("/".join(spelled), tree, size)


def read_text(repository: Path, blob: Blob, lossy: bool = False) -> str:
    """A blob found by find_blob, as text; UnicodeDecodeError when it is not UTF-8, unless
    `lossy` replaces what is not."""
    return git("cat-file", "blob", blob.sha, cwd=repository, env=_env(repository), lossy=lossy)


def _env(repository: Path) -> dict[str, str]:
    """Orca's git directory, named: never found from a working directory."""
    return {"GIT_DIR": str(repository)}


def _entry(repository: Path, tree: str, name: str, ignore_case: bool) -> tuple[str, str, str] | None:
    """(mode, sha, name) of `name` in `tree`; the first in sorted order when case is ignored."""
    listing = git("ls-tree", "-z", tree, cwd=repository, env=_env(repository))
    matches = []
    for line in listing.split("\0"):
        if not line:
            continue
        meta, entry_name = line.split("\t", 1)
        mode, _kind, sha = meta.split()
        if entry_name == name or ignore_case and entry_name.lower() == name.lower():
            matches.append((mode, sha, entry_name))
    return min(matches, key=lambda m: m[2]) if matches else None
