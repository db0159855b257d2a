"""What the agent left in its worktree, read by Orca's git as plain files, and nothing more.

The sandbox can write the worktree, its `.git` pointer, the git admin directory beside the
mirror (HEAD, index) and any nested repository it makes. None of it steers Orca's git:
- the git directory is Orca's own repository (the mirror, or the user's for `orca solve`),
  named explicitly, never found through the worktree's `.git`;
- the index is Orca's: a copy of the one taken when Orca checked the worktree out
  (`<worktree>.index`, out of the sandbox's reach), never the admin directory's;
- every directory holding a `.git` of any kind (a nested repository, or a gitlink's
  checkout) is left out before git looks, so git never runs inside one with its config;
- commits are made from trees (`write-tree`, `commit-tree`), so HEAD, refs and hooks in the
  admin directory play no part.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from core.git import git

_GIT_NAMES = (".git",)


@dataclass(frozen=True)
class Worktree:
    """A worktree as Orca's git sees it: whose objects, which files, from which commit."""

    repository: Path
    """Orca's git directory: the mirror (or the user's common git dir for `orca solve`)."""
    path: Path
    base_sha: str
    index: Path
    """Orca's index of `path` as checked out at `base_sha`, with the files' stat data."""


@dataclass
class Snapshot:
    """The worktree staged as a tree, with what changed and what was left out."""

    tree: str
    files: list[str]
    """Paths that differ from the base commit, untracked files included."""
    dropped: list[str] = field(default_factory=list)
    """Protected paths whose changes were undone."""
    nested: list[str] = field(default_factory=list)
    """Directories holding a git repository of their own, left out entirely."""


def index_copy_of(worktree: Path) -> Path:
    """Where Orca keeps its own index of a worktree: beside it, out of the sandbox."""
    return worktree.with_name(f"{worktree.name}.index")


def nested_repositories(root: Path) -> list[str]:
    """Directories below `root` (relative, sorted) that hold a `.git` entry of any kind.

    Read without following links, so a link cannot lead the walk outside the worktree."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        relative = os.path.relpath(folder, root)
        if relative != "." and any(name.lower() in _GIT_NAMES for name in (*dirs, *files)):
            found.append(relative)
            dirs.clear()
            continue
        dirs[:] = [d for d in dirs if d.lower() not in _GIT_NAMES]
    return sorted(found)


def _env(view: Worktree, index: Path | None = None) -> dict[str, str]:
    """Orca's git directory, and with an index the worktree's files through it."""
    if index is None:
        return {"GIT_DIR": str(view.repository)}
    return {"GIT_DIR": str(view.repository), "GIT_WORK_TREE": str(view.path),
            "GIT_INDEX_FILE": str(index)}


@contextmanager
def _private_index(view: Worktree) -> Iterator[Path]:
    """A scratch copy of Orca's index, removed afterwards; the copy keeps the original's mtime
    (git's racy-entry check reads it: see jobs.workspace._copy_index)."""
    handle, name = tempfile.mkstemp(prefix=f"{view.index.name}.", dir=view.index.parent)
    os.close(handle)
    try:
        shutil.copy2(view.index, name)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _excluding(paths: list[str]) -> list[str]:
    """Pathspecs that keep git out of `paths` (taken literally, from the top)."""
    return [f":(top,literal,exclude){path}" for path in paths]


def _stage_all(view: Worktree, index: Path, nested: list[str]) -> None:
    """`git add --all` over the worktree, nested repositories excluded by pathspec."""
    specs = [":(top)", *_excluding(nested)]
    git("add", "--all", "--pathspec-from-file=-", "--pathspec-file-nul", cwd=view.repository,
        env=_env(view, index), stdin="\0".join(specs))


def _ignored(view: Worktree, index: Path, paths: tuple[str, ...]) -> set[str]:
    """Which of `paths` git's ignore rules leave out of `git add --all`."""
    if not paths:
        return set()
    out = git("check-ignore", "--no-index", "-z", "--stdin", cwd=view.repository,
              env=_env(view, index), stdin="\0".join(paths) + "\0", check=False)
    return {name for name in out.split("\0") if name}


def _changed(view: Worktree, index: Path) -> list[str]:
    out = git("diff", "--cached", "--no-renames", "--name-only", "-z", view.base_sha, "--",
              cwd=view.repository, env=_env(view, index))
    return [name for name in out.split("\0") if name]


def _undo(view: Worktree, index: Path, paths: list[str]) -> None:
    """Put `paths` back as they are at the base commit, in the index only."""
    env = _env(view, index)
    for path in paths:
        entry = git("ls-tree", "-z", view.base_sha, "--", path, cwd=view.repository,
                    env={**_env(view), "GIT_LITERAL_PATHSPECS": "1"}).strip("\0")
        if entry:
            mode, _kind, rest = entry.split(" ", 2)
            sha = rest.split("\t", 1)[0]
            git("update-index", "--add", "--cacheinfo", f"{mode},{sha},{path}",
                cwd=view.repository, env=env)
        else:
            git("update-index", "--force-remove", "--", path, cwd=view.repository, env=env)


def _gitlinks(view: Worktree, index: Path) -> list[str]:
    """Gitlinks in the staged index that the base commit does not have."""
    staged = git("ls-files", "-s", "-z", cwd=view.repository, env=_env(view, index))
    links = {line.split("\t", 1)[1] for line in staged.split("\0") if line.startswith("160000 ")}
    if not links:
        return []
    base = git("ls-tree", "-r", "-z", view.base_sha, cwd=view.repository, env=_env(view))
    kept = {line.split("\t", 1)[1] for line in base.split("\0") if line.startswith("160000 ")}
    return sorted(links - kept)


def snapshot(view: Worktree, protected: tuple[str, ...] = (),
             left_out: tuple[str, ...] = ()) -> Snapshot:
    """Stage everything in the worktree (untracked files included, ignored ones not), undo
    protected paths and leave nested repositories and `left_out` (what setup made) out; the
    tree and what changed."""
    nested = nested_repositories(view.path)
    with _private_index(view) as index:
        # git refuses to name an ignored path, even to exclude it: those stay out anyway.
        left_out = tuple(p for p in left_out if p not in _ignored(view, index, left_out))
        _stage_all(view, index, [*nested, *left_out])
        files = _changed(view, index)
        stray = _gitlinks(view, index)  # none should survive the exclusion; never publish one
        dropped = [f for f in files if any(fnmatch.fnmatch(f, p) for p in protected)]
        _undo(view, index, [*dropped, *stray])
        tree = git("write-tree", cwd=view.repository, env=_env(view, index)).strip()
    kept = [f for f in files if f not in dropped and f not in stray]
    return Snapshot(tree=tree, files=kept, dropped=dropped, nested=sorted({*nested, *stray}))


def diff(view: Worktree, tree: str) -> str:
    """The patch (with a summary) from the base commit to `tree`: objects only, no worktree,
    no external diff or text conversion."""
    return git("diff", "--no-ext-diff", "--no-textconv", "--no-color", "--stat", "--patch",
               view.base_sha, tree, "--", cwd=view.repository, env=_env(view), lossy=True)


def worktree_diff(view: Worktree, max_bytes: int, timeout: float) -> tuple[str, list[str]]:
    """Changes to tracked files against the base, and the new files' names, without staging
    (mission control reads a worktree whose run may still be writing it)."""
    nested = nested_repositories(view.path)
    excludes = _excluding(nested)
    with _private_index(view) as index:
        env = {**_env(view, index), "GIT_OPTIONAL_LOCKS": "0"}
        patch = git("diff", "--no-ext-diff", "--no-textconv", "--no-color",
                    "--ignore-submodules=all", view.base_sha, "--", ":(top)", *excludes,
                    cwd=view.repository, env=env, timeout=timeout, check=False, lossy=True)
        new = git("ls-files", "-z", "--others", "--exclude-standard", "--", ":(top)", *excludes,
                  cwd=view.repository, env=env, timeout=timeout, check=False, lossy=True)
    return patch[:max_bytes], [name for name in new.split("\0") if name]
