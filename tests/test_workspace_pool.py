"""Kept worktrees lent to runs: reset to the exact base with nothing left over, one run per
worktree across processes, and a slot freed by the death of the process that held it.

Real git throughout: an origin repository, Orca's mirror of it fetched over the file system,
and jobs.workspace's own borrow and return.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.mission.diff import worktree_paths
from core.git import git as host_git
from jobs.workspace import Workspace, borrow_worktree, refresh_mirror, return_worktree

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = "octo-org/hello"
FILES = {".gitignore": "*.log\nbuild/\n", "a.txt": "a\n", "b.txt": "b\n", "c.txt": "c\n",
         "pkg/d.txt": "d\n"}


def git(*args: str, cwd: Path) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@e"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=True).stdout


class Origin:
    """A repository on `main`, Orca's data dir, and the mirror refreshed from it."""

    def __init__(self, tmp: Path) -> None:
        self.seed, self.data_dir = tmp / "seed", tmp / "data"
        git("init", "-q", "-b", "main", str(self.seed), cwd=tmp)
        for name, text in FILES.items():
            (self.seed / name).parent.mkdir(parents=True, exist_ok=True)
            (self.seed / name).write_text(text)
        self.commit("first")

    def commit(self, message: str) -> str:
        git("add", "--all", cwd=self.seed)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.seed)
        return git("rev-parse", "HEAD", cwd=self.seed).strip()

    def mirror(self) -> Path:
        return refresh_mirror(self.data_dir, REPOSITORY, str(self.seed), "")

    def borrow(self, run_id: str, pool: int = 2) -> Workspace:
        return borrow_worktree(self.mirror(), self.data_dir, run_id, "agent/x", "main", pool)


@pytest.fixture
def origin(tmp_path):
    return Origin(tmp_path)


def make_a_mess(workspace: Workspace) -> None:
    """What a run can leave behind: every kind of change, and tampered git state."""
    path = workspace.path
    (path / "new.txt").write_text("untracked\n")
    (path / "debug.log").write_text("ignored\n")
    (path / "build" / "out").mkdir(parents=True)
    (path / "build" / "out" / "bin").write_text("ignored too\n")
    (path / "a.txt").write_text("modified\n")
    (path / "b.txt").write_text("staged\n")
    git("add", "b.txt", cwd=path)
    (path / "c.txt").unlink()
    git("update-index", "--skip-worktree", "pkg/d.txt", cwd=path)  # git would no longer look
    (path / "pkg" / "d.txt").write_text("D\n")
    (path / "nested").mkdir()
    git("init", "-q", cwd=path / "nested")
    (path / ".gitattributes").write_text("* text eol=crlf\n")  # untracked: must not steer a reset
    (workspace.admin_dir / "config.worktree").write_text("[core]\n\tsparseCheckout = true\n")
    (path / ".git").write_text("gitdir: /nowhere\n")


def assert_pristine(workspace: Workspace, sha: str, files: dict[str, str]) -> None:
    path = workspace.path
    explicit = (f"--git-dir={workspace.admin_dir}", f"--work-tree={path}")
    assert git(*explicit, "rev-parse", "HEAD", cwd=path).strip() == sha
    assert git(*explicit, "status", "--porcelain", "--ignored", "--untracked-files=all",
               cwd=path) == ""
    on_disk = sorted(str(p.relative_to(path)) for p in path.rglob("*")
                     if p.is_file() and p.name != ".git")
    assert on_disk == sorted(files)
    for name, text in files.items():
        assert (path / name).read_bytes() == text.encode(), name  # content, not just stat data
    assert not (workspace.admin_dir / "config.worktree").exists()
    assert (path / ".git").read_text() == f"gitdir: {workspace.admin_dir}\n"


def test_a_returned_worktree_is_lent_again_clean_at_the_new_base(origin):
    first = origin.borrow("run1")
    make_a_mess(first)
    return_worktree(first)
    (origin.seed / "e.txt").write_text("e\n")
    new_sha = origin.commit("second")

    again = origin.borrow("run2")
    assert again.path == first.path and again.slot is not None
    assert again.base_sha == new_sha
    assert_pristine(again, new_sha, {**FILES, "e.txt": "e\n"})
    assert git("status", "--porcelain", cwd=again.path) == ""  # the .git pointer works again
    return_worktree(again)


HOLDER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from jobs.workspace import borrow_worktree
    from tests.test_workspace_pool import make_a_mess
    mirror, data = Path({mirror!r}), Path({data!r})
    workspace = borrow_worktree(mirror, data, "held", "agent/x", "main", 2)
    print(workspace.path, flush=True)
    if {mess!r}:
        make_a_mess(workspace)
        os.kill(os.getpid(), signal.SIGKILL)  # a worker dies mid-run: no finally, no return
    sys.stdin.read()
""")


def hold(origin: Origin, mess: bool) -> tuple[subprocess.Popen, Path]:
    """Another process borrowing a worktree (and, with `mess`, dying with it dirty)."""
    code = HOLDER.format(root=str(ROOT), mirror=str(origin.mirror()), data=str(origin.data_dir),
                         mess=mess)
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def test_concurrent_runs_never_share_a_worktree(origin):
    other, held = hold(origin, mess=False)
    try:
        mine = origin.borrow("mine")
        third = origin.borrow("third")  # a pool of 2, both lent: a worktree of its own
        assert mine.path != held and mine.slot is not None
        assert third.slot is None and third.path == origin.data_dir.resolve() / "worktrees" / "third"
        assert_pristine(third, mine.base_sha, FILES)
        return_worktree(third)
        assert not third.path.exists()
        return_worktree(mine)
    finally:
        other.communicate("")
    assert other.returncode == 0


def test_a_dead_holders_worktree_is_freed_and_reset(origin):
    process, held = hold(origin, mess=True)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    sha = origin.commit("after the crash")
    retried = origin.borrow("held")  # the retry of the run that died
    assert retried.path == held
    assert_pristine(retried, sha, FILES)
    return_worktree(retried)


def test_mission_control_finds_a_lent_worktree_only_while_it_is_lent(origin):
    workspace = origin.borrow("run1")
    # Orca's mirror, never the admin dir the sandbox can write (core.snapshot).
    assert worktree_paths(origin.data_dir, "run1", REPOSITORY) == (workspace.path,
                                                                    workspace.mirror)
    return_worktree(workspace)
    assert worktree_paths(origin.data_dir, "run1", REPOSITORY) is None
    assert not list((origin.data_dir / "worktrees").iterdir())


def test_a_lowered_cap_deletes_the_surplus_worktrees(origin):
    first, second = origin.borrow("run1"), origin.borrow("run2")
    return_worktree(first)
    return_worktree(second)
    kept = origin.borrow("run3", pool=1)
    assert kept.path == first.path and not second.path.exists()
    return_worktree(kept)


def test_a_worktree_in_a_bad_state_is_checked_out_afresh(origin):
    workspace = origin.borrow("run1")
    path = workspace.path
    return_worktree(workspace)
    git("--git-dir", str(workspace.admin_dir), "--work-tree", str(path), "rm", "-q", "a.txt",
        cwd=path)
    (path / "a.txt").mkdir()  # a folder where a tracked file belongs, and no index copy
    path.with_name(f"{path.name}.index").unlink()
    again = origin.borrow("run2")
    assert again.path == path
    assert_pristine(again, again.base_sha, FILES)
    return_worktree(again)


def test_no_pool_means_a_fresh_worktree_per_run(origin):
    workspace = origin.borrow("run1", pool=0)
    assert workspace.slot is None and workspace.path.name == "run1"
    return_worktree(workspace)
    assert not workspace.path.exists()
    assert not (origin.data_dir / "pool").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="files are lent to nobody only when Orca is root")
def test_as_root_the_files_are_lent_before_orca_keeps_its_index(origin):
    """Lending changes the files' ctime and owner: Orca's index must be taken after it, or
    every file looks changed at publish and the next reset rewrites them all."""
    for run in ("run1", "run2"):  # a checkout, then a reset
        workspace = origin.borrow(run)
        view = workspace.view
        env = {"GIT_DIR": str(view.repository), "GIT_WORK_TREE": str(view.path),
               "GIT_INDEX_FILE": str(view.index)}
        debug = host_git("ls-files", "--debug", cwd=view.path, env=env)
        assert "uid: 65534" in debug and "uid: 0\t" not in debug
        assert host_git("diff-files", "--name-only", cwd=view.path, env=env) == ""
        assert all(p.stat().st_uid == 65534 for p in workspace.path.rglob("*")
                   if p.name != ".git" and not p.is_symlink())
        return_worktree(workspace)


def test_runs_waiting_on_one_fetch_take_its_refs_and_a_later_run_fetches_again(origin,
                                                                               monkeypatch):
    import fcntl
    import threading
    import time

    import jobs.workspace

    fetches = []

    def counting_git(*args, **kwargs):
        if args and args[0] == "fetch":
            fetches.append(time.time())
        return host_git(*args, **kwargs)

    monkeypatch.setattr(jobs.workspace, "git", counting_git)
    mirror = origin.mirror()  # created and fetched
    assert len(fetches) == 1
    head = origin.commit("second")
    # A fetch holds the lock while five runs ask: the first to get it fetches (it began after
    # they all asked), and the other four take its refs.
    with open(mirror.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        runs = [threading.Thread(target=origin.mirror) for _ in range(5)]
        for run in runs:
            run.start()
        time.sleep(0.5)
        fcntl.flock(lock, fcntl.LOCK_UN)
    for run in runs:
        run.join(timeout=60)
    assert len(fetches) == 2
    assert host_git("rev-parse", "refs/remotes/origin/main", cwd=mirror).strip() == head
    # A run that asks after that fetch began fetches again, and sees a newer commit.
    newer = origin.commit("third")
    origin.mirror()
    assert len(fetches) == 3
    assert host_git("rev-parse", "refs/remotes/origin/main", cwd=mirror).strip() == newer
