"""A session's launcher (jobs.sandbox.launcher), with real bwrap, setpriv and cgroups, as root:
one launcher per session, a bwrap of its own per command, nothing of a command outliving it,
and a launcher no command can reach, replaced when it is killed or dies."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest

from jobs.sandbox import BubblewrapSandbox, Limits, Scratch
from jobs.sandbox.launcher import launcher_python
from tests.test_sandbox import _processes_with

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or launcher_python() is None,
                                reason="a launcher is kept only when Orca is root")


@pytest.fixture
def sandbox(tmp_path: Path):
    worktree = tmp_path / "worktree"
    worktree.mkdir()
    made = BubblewrapSandbox(worktree, launcher=True, scratch=Scratch(tmp_path),
                             limits=Limits(processes=64))
    yield made
    made.close()


def _launcher(sandbox: BubblewrapSandbox):
    launcher = sandbox._launcher
    assert launcher is not None, "the sandbox kept no launcher"
    return launcher


def _marker() -> str:
    return str(40000 + uuid.uuid4().int % 20000)  # a sleep length no other process uses


def test_one_launcher_serves_the_session_and_each_command_has_a_bwrap_of_its_own(sandbox):
    seen = [sandbox.run("readlink /proc/self/ns/pid /proc/self/ns/mnt; ls -A /tmp; "
                        "echo left > /tmp/mine", 10, 1000) for _ in range(4)]
    assert all(result.exit_code == 0 for result in seen)
    namespaces = [result.output.split()[:2] for result in seen]
    assert len({pid for pid, _ in namespaces}) == 4 and len({mnt for _, mnt in namespaces}) == 4
    assert all("mine" not in result.output for result in seen)  # a fresh /tmp each time
    assert _launcher(sandbox).starts == 1


def test_nothing_a_command_leaves_running_outlives_it(sandbox):
    seconds = _marker()
    result = sandbox.run(f"setsid nohup sleep {seconds} >/dev/null 2>&1 & "
                         f"(sleep {seconds} &) ; echo started", 10, 1000)
    assert result.output == "started\n"
    time.sleep(0.2)
    assert _processes_with(f"sleep\0{seconds}") == []
    assert sandbox.run("echo next", 10, 1000).output == "next\n"
    assert _launcher(sandbox).starts == 1


def test_a_command_cannot_see_or_kill_its_launcher(sandbox):
    """The hostile command signals everything it can and looks for the launcher: it finds
    only its own sandbox's processes, and the launcher serves the next command."""
    sandbox.run("true", 10, 1000)
    launcher = _launcher(sandbox)
    result = sandbox.run("grep -l -a -s posix_spaw[n]p /proc/[0-9]*/cmdline; "
                         "ls -d /proc/[0-9]* | wc -l; kill -9 -1", 10, 1000)
    assert "/proc/" not in result.output  # no process with the launcher's source
    assert int(result.output.split()[-1]) <= 5  # bwrap's init, the shells, ls and wc
    assert result.exit_code == -signal.SIGKILL or result.exit_code == 128 + signal.SIGKILL
    assert sandbox.run("echo still here", 10, 1000).output == "still here\n"
    assert launcher.starts == 1


def test_a_timeout_ends_the_launcher_and_the_next_command_gets_a_new_one(sandbox):
    seconds = _marker()
    sandbox.run("true", 10, 1000)
    started = time.monotonic()
    result = sandbox.run(f"echo started; sleep {seconds} & sleep {seconds}", 1, 1000)
    assert result.timed_out and result.exit_code is None and result.output == "started\n"
    assert time.monotonic() - started < 5
    time.sleep(0.2)
    assert _processes_with(f"sleep\0{seconds}") == []
    assert sandbox.run("echo again", 10, 1000).output == "again\n"
    assert _launcher(sandbox).starts == 2


def test_a_stop_kills_the_running_command_at_once(tmp_path):
    stop = threading.Event()
    sandbox = BubblewrapSandbox(tmp_path, launcher=True, stop=stop)
    try:
        threading.Timer(0.5, stop.set).start()
        started = time.monotonic()
        result = sandbox.run("sleep 30", 60, 1000)
        assert result.timed_out and time.monotonic() - started < 3
    finally:
        sandbox.close()


def test_a_launcher_killed_from_outside_is_replaced(sandbox):
    sandbox.run("true", 10, 1000)
    launcher = _launcher(sandbox)
    for pid in launcher.cgroup._pids():
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert sandbox.run("echo replaced", 10, 1000).output == "replaced\n"
    assert launcher.starts == 2


def test_the_bounds_are_each_commands_own(sandbox):
    forks = sandbox.run("for i in $(seq 80); do sleep 1 & done; wait", 30, 2000)
    assert "process limit (64)" in [hit.name for hit in forks.bounds]
    assert sandbox.run("echo fine", 10, 100).bounds == ()


def test_close_ends_the_launcher_and_removes_its_group(sandbox):
    sandbox.run("true", 10, 1000)
    launcher = _launcher(sandbox)
    pids, dirs = launcher.cgroup._pids(), launcher.cgroup.dirs
    assert len(pids) == 2  # the outer bwrap and the spawner, nothing else between commands
    sandbox.close()
    sandbox.close()  # twice is harmless
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)
    assert all(not path.exists() for path in dirs)
    assert sandbox.run("echo alone", 10, 100).output == "alone\n"  # a late command starts alone
    assert sandbox._launcher is None


def test_a_sandbox_dropped_without_close_ends_its_launcher(tmp_path):
    sandbox = BubblewrapSandbox(tmp_path, launcher=True)
    sandbox.run("true", 10, 1000)
    pids = _launcher(sandbox).cgroup._pids()
    del sandbox
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)


def test_with_the_network_each_command_starts_alone(tmp_path):
    """slirp4netns joins each command's own namespace through its bwrap's status: no launcher."""
    sandbox = BubblewrapSandbox(tmp_path, launcher=True, network=True)
    assert sandbox.run("true", 10, 1000).exit_code == 0
    assert sandbox._launcher is None
