"""The run's workspace: a bare mirror per repository, and a worktree per run lent from a pool.

The mirror lives under `ORCA_DATA_DIR/mirrors/<owner>/<repo>.git` and is refreshed with
`git fetch`; a file lock serialises fetches of one repository so they do not fight over its
refs, and a run that waited for the lock while another fetch began and succeeded takes that
fetch's refs instead of fetching again (a burst of runs on one repository fetches once or
twice, not once each). Checking out a large repository afresh costs seconds (a file written per tracked file),
so up to `ORCA_WORKTREE_POOL` worktrees per repository are kept under
`ORCA_DATA_DIR/pool/<owner>/<repo>/` (jobs.workspace.pool) and each run borrows a free one,
moved to its exact base commit, and gives it back when it ends. While a run holds one it is
linked from `ORCA_DATA_DIR/worktrees/<run id>`; when every kept one is busy the run gets a
worktree of its own there, removed at the end.

A kept worktree has been the sandbox's for a whole run, so resetting it trusts nothing the
agent could write: its git admin directory is rebuilt, its index restored from Orca's copy
(out of the sandbox's reach), its `.git` pointer rewritten, and git runs with the git
directory named explicitly.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import stat
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.errors import WorkspaceError
from core.git import git
from core.snapshot import Worktree, index_copy_of
from jobs.sandbox.user import lend, switches_user
from jobs.workspace import pool as worktree_pool
from jobs.workspace.pool import Slot

log = logging.getLogger(__name__)
# Branch names stay readable in GitHub's UI: a short slug of the issue title.
SLUG_LENGTH = 40


def slugify(title: str) -> str:
    """`Fix the flaky test!` → `fix-the-flaky-test`: ASCII, lowercase, at most 40 chars."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:SLUG_LENGTH].rstrip("-") or "task"


def issue_branch(number: int, title: str) -> str:
    """The deterministic branch for an issue: `agent/issue-<n>-<slug>`."""
    return f"agent/issue-{number}-{slugify(title)}"


@dataclass
class Workspace:
    """A checked-out worktree for one run."""

    mirror: Path
    path: Path
    branch: str
    base_sha: str
    slot: Slot | None = None
    """The pool slot this worktree was lent from; None for a worktree of the run's own."""
    link: Path | None = None
    """`worktrees/<run id>`, pointing at the lent worktree while the run holds it."""
    head: str | None = None
    """The run's own commit once Orca has made it (jobs.workspace.commit); None before."""

    @property
    def admin_dir(self) -> Path:
        """The worktree's git directory inside the mirror (index, HEAD), for the sandbox's git:
        the sandbox can write it, so Orca's own git never reads it."""
        return self.mirror / "worktrees" / self.path.name

    @property
    def view(self) -> Worktree:
        """The worktree as Orca's git reads it: the mirror's objects, Orca's own index."""
        return Worktree(self.mirror, self.path, self.base_sha, index_copy_of(self.path))


@contextmanager
def _locked(mirror: Path) -> Iterator[None]:
    lock_path = mirror.with_suffix(".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def refresh_mirror(data_dir: Path, full_name: str, url: str, token: str) -> Path:
    """Create or update the bare mirror of a repository; returns its path. The branches are
    at least as new as when this was called: fetched now, or by a fetch that began after."""
    mirror = data_dir.resolve() / "mirrors" / f"{full_name}.git"
    asked = time.time()
    with _locked(mirror):
        if not (mirror / "HEAD").exists():
            mirror.mkdir(parents=True, exist_ok=True)
            git("init", "--bare", "--quiet", cwd=mirror)
            git("remote", "add", "origin", url, cwd=mirror)
        elif _last_fetch_began(mirror) > asked:
            return mirror  # a fetch that began while this call waited has just succeeded
        began = time.time()
        # Branches only: refs/pull/* on a busy repository is thousands of refs.
        git("fetch", "--prune", "--quiet", "origin", "+refs/heads/*:refs/remotes/origin/*",
            cwd=mirror, token=token)
        _stamp(mirror).write_text(repr(began))
    return mirror


def _stamp(mirror: Path) -> Path:
    """When the mirror's last successful fetch of its branches began, beside its lock (both
    outside the mirror, which a worktree's sandbox may read)."""
    return mirror.with_suffix(".fetched")


def _last_fetch_began(mirror: Path) -> float:
    try:
        return float(_stamp(mirror).read_text())
    except (OSError, ValueError):
        return 0.0


def fetch_pull_head(mirror: Path, number: int, token: str) -> str:
    """A pull request's head, a fork's too, fetched from the base repository's
    `refs/pull/<n>/head` (GitHub keeps it there for every pull request) into
    `refs/orca/pulls/<n>/head`, outside `refs/remotes/`, which the branch fetch prunes; its
    sha. The token is passed per command, on the host: the fork's code never sees it."""
    ref = pull_head_ref(number)
    with _locked(mirror):
        git("fetch", "--quiet", "--no-tags", "origin", f"+refs/pull/{number}/head:{ref}",
            cwd=mirror, token=token)
        return git("rev-parse", "--verify", f"{ref}^{{commit}}", cwd=mirror).strip()


def pull_head_ref(number: int) -> str:
    """Where the mirror keeps pull request `number`'s head (a worktree's `base` may name it)."""
    return f"refs/orca/pulls/{number}/head"


def _ref(base: str) -> str:
    """A branch of the remote, or a full ref the mirror keeps itself (`refs/orca/...`)."""
    return base if base.startswith("refs/") else f"refs/remotes/origin/{base}"


def borrow_worktree(mirror: Path, data_dir: Path, run_id: str, branch: str, base: str,
                    pool_size: int) -> Workspace:
    """The run's worktree, detached at the tip of `origin/<base>` (or of `base` when it is a
    full ref), bound for `branch`: a kept one of the repository's pool, reset, when one is
    free; else a new one of its own."""
    link = data_dir.resolve() / "worktrees" / run_id
    if link.is_symlink():  # a retried run (its worker died) finds its old link still there
        link.unlink()
    pool = _pool_of(mirror, data_dir)
    for extra in worktree_pool.surplus(pool, pool_size):
        _discard_quietly(mirror, extra)
        extra.release()
    slot = worktree_pool.claim(pool, pool_size)
    if slot is None:
        return add_worktree(mirror, data_dir, run_id, branch, base)
    try:
        base_sha = _tip(mirror, base)
        _make_ready(mirror, slot, base_sha)
        shutil.rmtree(link, ignore_errors=True)  # a retried run's own worktree, if it had one
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(slot.path, target_is_directory=True)
    except OSError as exc:  # a slot that cannot even be deleted must not fail every run
        slot.release()
        log.warning("worktree %s unusable (%r); checking out one for run %s", slot.path, exc,
                    run_id)
        return add_worktree(mirror, data_dir, run_id, branch, base)
    except BaseException:
        slot.release()
        raise
    return Workspace(mirror=mirror, path=slot.path, branch=branch, base_sha=base_sha, slot=slot,
                     link=link)


def return_worktree(workspace: Workspace) -> None:
    """Give a lent worktree back to the pool, tidied (or deleted when it cannot be); remove a
    worktree of the run's own. Raises nothing a run's outcome should be hidden behind."""
    slot = workspace.slot
    if slot is None:
        remove_worktree(workspace)
        return
    try:
        if workspace.link is not None:
            workspace.link.unlink(missing_ok=True)
        # Tidy now, not only at the next borrow: a build's output should not sit on disk
        # between runs, and a worktree that cannot be tidied is deleted.
        _reset(workspace.mirror, slot, workspace.base_sha)
    except (WorkspaceError, OSError):
        _discard_quietly(workspace.mirror, slot)
    finally:
        slot.release()


def add_worktree(mirror: Path, data_dir: Path, run_id: str, branch: str, base: str) -> Workspace:
    """A new worktree for the run, bound for `branch`, starting at `origin/<base>`."""
    path = data_dir.resolve() / "worktrees" / run_id
    path.parent.mkdir(parents=True, exist_ok=True)
    # A retried run (its worker died) finds its old worktree still there.
    shutil.rmtree(path, ignore_errors=True)
    with _locked(mirror):
        git("worktree", "prune", cwd=mirror)
        base_sha = git("rev-parse", _ref(base), cwd=mirror).strip()
        # Detached: two runs may work toward the same branch (an issue's follow-up and a
        # command on its PR), and git refuses one branch in two worktrees. The push names it.
        git("worktree", "add", "--quiet", "--detach", str(path), base_sha, cwd=mirror)
    keep_index(mirror / "worktrees" / path.name, path)
    return Workspace(mirror=mirror, path=path, branch=branch, base_sha=base_sha)


def keep_index(admin: Path, worktree: Path) -> None:
    """Copy the index git wrote at checkout to where Orca keeps its own (core.snapshot),
    before any sandbox can write the original; checks that it is the worktree's.

    When Orca is root the sandbox runs as nobody, and the files are lent to it here rather
    than at the first command: lending changes their ctime, and an index taken before it
    would make Orca's git read every file again at publish and at the next reset."""
    if (worktree / ".git").read_text().strip() != f"gitdir: {admin}":
        raise WorkspaceError(f"git named the worktree {worktree.name} unexpectedly")
    if switches_user():
        lend(worktree, keep=[".git"])
        # Only the files lending just changed are read again (their content is unchanged).
        git(f"--git-dir={admin}", f"--work-tree={worktree}", "update-index", "-q", "--refresh",
            cwd=worktree, check=False)
    _copy_index(admin / "index", index_copy_of(worktree))


def remove_worktree(workspace: Workspace) -> None:
    """Drop the worktree, its admin dir and Orca's index of it; the branch stays in the mirror.

    Deleted by their known paths, not with `git worktree remove`, which finds what to delete
    through the admin dir's `gitdir` file: the sandbox could aim that at another folder."""
    for path in (workspace.path, workspace.admin_dir, index_copy_of(workspace.path)):
        try:
            _remove_tree(path)
        except OSError as exc:  # the next prune or retry tries again
            log.warning("could not delete %s: %r", path, exc)


def _pool_of(mirror: Path, data_dir: Path) -> Path:
    """`pool/<owner>/<repo>` for the mirror `mirrors/<owner>/<repo>.git`."""
    root = data_dir.resolve()
    name = mirror.relative_to(root / "mirrors")
    return root / "pool" / name.with_name(name.name.removesuffix(".git"))


def _tip(mirror: Path, base: str) -> str:
    with _locked(mirror):  # not halfway through a fetch
        return git("rev-parse", "--verify", f"{_ref(base)}^{{commit}}", cwd=mirror).strip()


def _make_ready(mirror: Path, slot: Slot, sha: str) -> None:
    """The slot's worktree at `sha` with nothing else in it: reset if it is there and sound,
    checked out afresh otherwise."""
    if slot.path.is_dir() and not slot.path.is_symlink() and slot.index_copy.is_file():
        try:
            _reset(mirror, slot, sha)
            return
        except (WorkspaceError, OSError):
            pass  # in a bad state: start this slot again
    _discard(mirror, slot)
    with _locked(mirror):
        git("worktree", "prune", cwd=mirror)
        git("worktree", "add", "--quiet", "--detach", str(slot.path), sha, cwd=mirror)
    keep_index(mirror / "worktrees" / slot.path.name, slot.path)


def _reset(mirror: Path, slot: Slot, sha: str) -> None:
    """Move a kept worktree to `sha`, removing untracked and ignored files and every change.

    Orca's index copy has the stat data of the files as Orca left them: a file the agent
    changed has a new ctime whatever it did to its mtime, so git rewrites it. Cleaning comes
    first, with that index, so an untracked `.gitattributes` cannot steer the checkout.
    """
    admin = mirror / "worktrees" / slot.path.name
    with _locked(mirror):  # `git worktree prune` must never see a half-written admin dir
        _rebuild_admin(admin, slot, sha)
        _write_pointer(slot.path, admin)
    explicit = (f"--git-dir={admin}", f"--work-tree={slot.path}")
    git(*explicit, "clean", "-ffdxq", cwd=slot.path)
    git(*explicit, "reset", "--hard", "--quiet", sha, cwd=slot.path)
    head = git(*explicit, "rev-parse", "HEAD", cwd=slot.path).strip()
    if head != sha:
        raise WorkspaceError(f"the kept worktree is at {head[:12]}, not {sha[:12]}")
    keep_index(admin, slot.path)


def _rebuild_admin(admin: Path, slot: Slot, sha: str) -> None:
    """What `git worktree add --detach` writes, and nothing a previous run may have added
    (per-worktree config, refs, rebase or merge state)."""
    _remove_tree(admin)
    admin.mkdir(parents=True)
    (admin / "gitdir").write_text(f"{slot.path / '.git'}\n")
    (admin / "commondir").write_text("../..\n")
    (admin / "HEAD").write_text(f"{sha}\n")
    _copy_index(slot.index_copy, admin / "index")


def _write_pointer(path: Path, admin: Path) -> None:
    dot_git = path / ".git"
    if dot_git.is_dir() and not dot_git.is_symlink():
        _remove_tree(dot_git)
    else:
        dot_git.unlink(missing_ok=True)
    dot_git.write_text(f"gitdir: {admin}\n")


def _discard_quietly(mirror: Path, slot: Slot) -> None:
    try:
        _discard(mirror, slot)
    except OSError as exc:  # the next borrow of the slot tries again
        log.warning("could not delete worktree %s: %r", slot.path, exc)


def _discard(mirror: Path, slot: Slot) -> None:
    """Delete the slot's worktree, its admin dir and its index copy (not its lock file)."""
    for path in (slot.path, mirror / "worktrees" / slot.path.name, slot.index_copy):
        _remove_tree(path)


def _remove_tree(path: Path) -> None:
    """rmtree that also gets through folders the agent made read-only (Orca can chmod what
    it owns, and as root everything, nobody's lent files included)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
        return

    def make_writable(_function, failed: str, _error) -> None:
        if not os.path.lexists(failed):
            return
        parent = os.path.dirname(failed)
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IRWXU)
        if os.path.isdir(failed) and not os.path.islink(failed):
            os.chmod(failed, os.stat(failed).st_mode | stat.S_IRWXU)
            shutil.rmtree(failed, onerror=make_writable)
        else:
            os.unlink(failed)

    if path.exists():
        shutil.rmtree(path, onerror=make_writable)


def _copy_index(source: Path, target: Path) -> None:
    """Copy an index keeping its mtime: git compares by content every entry whose file was
    written in the same second as the index (racy git), and judges that by the index file's
    mtime. A fresh mtime would let a same-size edit made in that second pass as unchanged."""
    shutil.copy2(source, target)
