"""Environments kept warm: what `setup` made in a worktree, kept per repository and key, so a
later run with the same key starts from it instead of installing everything again.

The key is a digest of the setup commands, the sandbox's toolchain and the content of the
files that decide dependencies (lock files and manifests by default, `setup_key:` in
`.github/orca.yml` adds or replaces them), read from git objects at the worktree's commit.

What is kept is what setup left in the worktree that the commit does not track (`.venv/`,
`node_modules/`, `*.egg-info`): found by walking the worktree against Orca's own index, never
through the worktree's `.gitignore` (the sandbox wrote it). It is copied out of the worktree
before the agent runs and copied back into a later run's worktree, with `cp --reflink=auto`:
copy-on-write where the filesystem can, a full copy where it cannot, never hard links (an
in-place write would reach the original). So the agent never writes a kept environment, and
nothing it does reaches the next run.

Kept environments live under `ORCA_DATA_DIR/environments/<repository id>/<key>/`, never shared
between repositories, bounded per repository (`ORCA_ENV_CACHE_GB`) and evicted least recently
used first.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.git import git
from core.snapshot import Worktree

log = logging.getLogger("orca.environments")

# Files whose content decides what setup installs (matched against each tracked file's name,
# or its whole path when the pattern has a slash).
DEFAULT_KEY_FILES = (
    "requirements*.txt", "pyproject.toml", "poetry.lock", "uv.lock", "Pipfile.lock",
    "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "package.json", "go.sum", "go.mod",
    "Cargo.lock", "Cargo.toml", "Gemfile.lock",
)
# Files whose code runs when dependencies are installed or the project is built: setup is
# trusted with the network, secrets and a kept environment only when these and the key's
# files are the base commit's.
BUILD_FILES = (
    "setup.py", "setup.cfg", "pyproject.toml", "package.json", "Makefile", "GNUmakefile",
    "CMakeLists.txt", "build.rs", "build.gradle", "build.gradle.kts", "pom.xml", "Rakefile",
    "*.gemspec", "noxfile.py", "tox.ini", "conftest.py", "manage.py",
)
_META = "environment.json"
_TREE = "tree"


@dataclass(frozen=True)
class KeyFiles:
    """Which tracked files count, and their blob ids at one commit."""

    blobs: dict[str, str]

    def digest(self, *parts: str) -> str:
        payload = json.dumps({"files": sorted(self.blobs.items()), "parts": list(parts)})
        return hashlib.sha256(payload.encode()).hexdigest()[:32]


def matching(paths: Iterable[str], patterns: Sequence[str]) -> list[str]:
    """The paths a pattern names: by file name, or by whole path when it has a slash."""
    found = []
    for path in paths:
        name = path.rsplit("/", 1)[-1]
        if any(fnmatch.fnmatchcase(path if "/" in p else name, p) for p in patterns):
            found.append(path)
    return sorted(found)


def tracked_blobs(repository: Path, revision: str) -> dict[str, str]:
    """Every regular file at `revision` and its blob id, from git objects."""
    listing = git("ls-tree", "-r", "-z", revision, cwd=repository,
                  env={"GIT_DIR": str(repository)})
    blobs = {}
    for entry in listing.split("\0"):
        if entry:
            meta, path = entry.split("\t", 1)
            mode, kind, sha = meta.split()
            if kind == "blob":
                blobs[path] = f"{mode}:{sha}"
    return blobs


def key_files(repository: Path, revision: str, patterns: Sequence[str]) -> KeyFiles:
    blobs = tracked_blobs(repository, revision)
    return KeyFiles({path: blobs[path] for path in matching(blobs, patterns)})


def environment_key(repository: Path, revision: str, setup: Sequence[str],
                    patterns: Sequence[str], toolchain: str) -> str:
    """The key of what `setup` makes at `revision`."""
    return key_files(repository, revision, patterns).digest(*setup, toolchain)


def untrusted_files(repository: Path, base: str, start: str, patterns: Sequence[str]) -> list[str]:
    """The dependency and build files whose content at `start` differs from `base`'s (none:
    setup at `start` runs the base's code, as far as installing goes)."""
    if base == start:
        return []
    watched = (*patterns, *BUILD_FILES)
    at_base = key_files(repository, base, watched).blobs
    at_start = key_files(repository, start, watched).blobs
    return sorted(path for path in set(at_base) | set(at_start)
                  if at_base.get(path) != at_start.get(path))


def products(view: Worktree) -> list[str]:
    """What the worktree holds that its commit does not track, as the fewest paths: a folder
    with no tracked file in it is one entry, its contents are not listed. `.git` is Orca's."""
    tracked = set(git("ls-files", "-z", cwd=view.path,
                      env={"GIT_DIR": str(view.repository), "GIT_WORK_TREE": str(view.path),
                           "GIT_INDEX_FILE": str(view.index)}).split("\0")) - {""}
    holders = {"/".join(path.split("/")[:depth]) for path in tracked
               for depth in range(1, path.count("/") + 1)}
    found: list[str] = []

    def walk(folder: Path, prefix: str) -> None:
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                rel = f"{prefix}{entry.name}"
                if rel == ".git" or rel in tracked:
                    continue
                if rel in holders and entry.is_dir(follow_symlinks=False):
                    walk(Path(entry.path), f"{rel}/")
                else:
                    found.append(rel)

    walk(view.path, "")
    return found


@functools.cache
def toolchain() -> str:
    """A fingerprint of what the sandbox can run: the system's package database and what is
    installed under /usr/local (the sandbox sees the host's /usr read-only)."""
    digest = hashlib.sha256(os.uname().machine.encode())
    status = Path("/var/lib/dpkg/status")
    if status.is_file():
        digest.update(status.read_bytes())
    for folder in ("/usr/local/bin", "/usr/local/lib"):
        if os.path.isdir(folder):
            for name in sorted(os.listdir(folder)):
                info = os.lstat(os.path.join(folder, name))
                digest.update(f"{name}:{info.st_size}:{int(info.st_mtime)}".encode())
    return digest.hexdigest()[:16]


def _copy(paths: Sequence[str], source: Path, target: Path) -> None:
    """`cp -a --reflink=auto` of each relative path from source to target, parents made:
    links copied as links, never followed; copy-on-write or a full copy, never a hard link."""
    for path in paths:
        destination = target / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", "--reflink=auto", "--no-target-directory",
                        str(source / path), str(destination)],
                       check=True, capture_output=True, timeout=1800)


def _size(path: Path) -> int:
    total = 0
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                pass
    return total


@dataclass(frozen=True)
class Kept:
    """What `EnvironmentStore.keep` did."""

    kept: bool
    size: int
    why: str = ""


class EnvironmentStore:
    """One repository's kept environments."""

    def __init__(self, data_dir: Path, repository_id: int, bound_bytes: int) -> None:
        self.root = data_dir.resolve() / "environments" / str(repository_id)
        self.bound = bound_bytes

    def _entry(self, key: str) -> Path:
        return self.root / key

    def restore(self, key: str, worktree: Path) -> list[str] | None:
        """Copy the environment kept under `key` into the worktree; the paths restored, or
        None when there is none."""
        entry = self._entry(key)
        try:
            meta = json.loads((entry / _META).read_text())
        except (OSError, ValueError):
            return None
        # A path the commit now tracks (or that is there already) is not overwritten.
        paths = [p for p in meta["paths"] if not os.path.lexists(worktree / p)]
        try:
            _copy(paths, entry / _TREE, worktree)
        except (OSError, subprocess.SubprocessError) as exc:  # setup runs instead
            log.warning("could not restore the environment %s: %r", entry, exc)
            return None
        os.utime(entry / _META)  # used: last to be evicted
        return paths

    def keep(self, key: str, worktree: Path, paths: Sequence[str]) -> Kept:
        """Copy `paths` of the worktree (setup's products) out as the environment for `key`,
        then evict the least recently used until the repository is within its bound."""
        if self._entry(key).is_dir():
            return Kept(False, 0, "an environment with this key is kept already")
        self.root.mkdir(parents=True, exist_ok=True)
        scratch = self.root / f".new-{uuid.uuid4().hex}"
        try:
            try:
                _copy(paths, worktree, scratch / _TREE)
            except (OSError, subprocess.SubprocessError) as exc:
                return Kept(False, 0, f"it could not be copied ({_cp_error(exc)})")
            (scratch / _TREE).mkdir(parents=True, exist_ok=True)
            size = _size(scratch)
            if size > self.bound:
                return Kept(False, size, f"it is larger ({_gib(size)}) than the bound for one "
                                         f"repository (ORCA_ENV_CACHE_GB, {_gib(self.bound)})")
            (scratch / _META).write_text(json.dumps({"paths": list(paths), "size": size,
                                                     "made": time.time()}))
            try:
                scratch.rename(self._entry(key))
            except OSError:  # another run kept the same key meanwhile
                return Kept(False, size, "an environment with this key is kept already")
        finally:
            if scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)
        self.evict(keep=key)
        return Kept(True, size)

    def evict(self, keep: str | None = None) -> list[str]:
        """Remove the least recently used environments until the rest fit the bound."""
        entries = []
        for entry in self.root.iterdir() if self.root.is_dir() else ():
            meta = entry / _META
            if entry.name.startswith(".") or not meta.is_file():
                continue
            try:
                size = int(json.loads(meta.read_text())["size"])
            except (OSError, ValueError, KeyError):
                size = _size(entry)
            entries.append((meta.stat().st_mtime, entry.name, size))
        total = sum(size for _, _, size in entries)
        evicted = []
        for _used, name, size in sorted(entries):
            if total <= self.bound:
                break
            if name == keep:
                continue
            shutil.rmtree(self._entry(name), ignore_errors=True)
            total -= size
            evicted.append(name)
        if evicted:
            log.info("evicted %d kept environments from %s", len(evicted), self.root)
        return evicted


def _cp_error(exc: BaseException) -> str:
    stderr = getattr(exc, "stderr", b"") or b""
    return (stderr.decode(errors="replace").strip().splitlines() or [repr(exc)])[-1][:300]


def _gib(size: int) -> str:
    return f"{size / 1024**3:.2f} GiB"
