"""The bubblewrap sandbox, proved with real bwrap and processes: what leaks, what is stopped."""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path

import pytest

from jobs.sandbox import (
    BubblewrapSandbox,
    Limits,
    NoSandbox,
    SandboxPathError,
    SandboxUnavailable,
    make_sandbox,
)
from jobs.sandbox.user import GITCONFIG, SANDBOX_UID


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    path = tmp_path / "worktree"
    path.mkdir()
    (path / "README.md").write_text("hello\n")
    return path


@pytest.fixture(params=[False, True], ids=["alone", "launched"])
def launched(request) -> bool:
    """Each command started alone, or from the session's launcher (jobs.sandbox.launcher,
    as root): both must hold everything below."""
    return request.param


@pytest.fixture
def sandbox(worktree: Path, launched: bool):
    made = make_sandbox(worktree, launcher=launched)
    assert isinstance(made, BubblewrapSandbox)
    yield made
    made.close()


def test_environment_is_built_not_inherited(sandbox, monkeypatch):
    monkeypatch.setenv("ORCA_TEST_SECRET", "s3cr3t-value-never-inside")
    result = sandbox.run("env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'", 10, 100_000)
    assert result.exit_code == 0
    assert "s3cr3t-value-never-inside" not in result.output
    assert "PATH=/usr/local/bin:/usr/bin:/bin" in result.output
    assert "HOME=/tmp" in result.output


def test_host_files_outside_the_worktree_are_invisible(sandbox, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / ".env").write_text("ANTHROPIC_API_KEY=sk-secret\n")
    cwd = Path.cwd()
    result = sandbox.run(
        f"cat {data_dir}/.env; ls {cwd}; ls /root /home; cat /workspace/README.md", 10, 10_000
    )
    assert "sk-secret" not in result.output
    assert "pyproject.toml" not in result.output  # the test's cwd is the repository
    assert result.output.rstrip().endswith("hello")


def test_writes_outside_workspace_and_tmp_fail(sandbox, worktree):
    result = sandbox.run(
        "touch /usr/x; echo usr=$?; touch /etc/x; echo etc=$?; touch /x; echo root=$?; "
        "touch /tmp/x; echo tmp=$?; touch /workspace/made; echo ws=$?",
        10,
        10_000,
    )
    for name in ("usr", "etc", "root"):
        assert f"{name}=0" not in result.output
    assert "tmp=0" in result.output and "ws=0" in result.output
    assert not Path("/usr/x").exists() and not Path("/etc/x").exists()
    assert (worktree / "made").exists()


def test_only_the_harmless_part_of_etc_is_visible(sandbox, tmp_path):
    """Users, certificates and the linker's cache are there; password hashes, the system git
    config (credential helpers) and package managers' token files are not."""
    Path("/etc/gitconfig").exists() or pytest.skip("no system git config to hide here")
    result = sandbox.run(
        "for f in passwd ssl/certs ld.so.cache shadow pip.conf npmrc ssh; do "
        "test -e /etc/$f && echo seen=$f || echo hidden=$f; done; git --version; "
        "cat /etc/gitconfig 2>&1", 10, 10_000)
    for name in ("passwd", "ssl/certs", "ld.so.cache"):
        assert f"seen={name}" in result.output, result.output
    for name in ("shadow", "pip.conf", "npmrc", "ssh"):
        assert f"seen={name}" not in result.output, result.output
    assert "git version" in result.output
    # Not the host's: none, or (run as nobody, jobs.sandbox.user) Orca's own.
    seen = result.output.split("git version", 1)[1].split("\n", 1)[1]
    assert seen in ("cat: /etc/gitconfig: No such file or directory\n", GITCONFIG), seen


def test_no_network(sandbox):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    server.settimeout(0.1)
    try:
        result = sandbox.run(f"echo hi > /dev/tcp/127.0.0.1/{port}", 10, 10_000)
        assert result.exit_code != 0
        with pytest.raises(TimeoutError):  # nobody came
            server.accept()
    finally:
        server.close()


def test_network_reaches_out_through_its_own_namespace_not_the_hosts_loopback(worktree):
    """`network`: the command gets slirp4netns's tap0 and DNS, never the worker's namespace:
    a service on the host's loopback is out of reach, directly and through the gateway."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.1)
    port = server.getsockname()[1]
    try:
        result = make_sandbox(worktree, network=True).run(
            "ip -br addr; cat /etc/resolv.conf; "
            f"for host in 127.0.0.1 10.0.2.2; do echo hi > /dev/tcp/$host/{port} && echo reached; "
            "done", 10, 10_000)
        with pytest.raises(TimeoutError):  # nobody came
            server.accept()
    finally:
        server.close()
    assert "tap0" in result.output and "10.0.2.100/24" in result.output
    assert "nameserver 10.0.2.3\n" in result.output
    assert "reached" not in result.output and result.output.count("Connection refused") == 4


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_text():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


@pytest.mark.parametrize("kind", ["bubblewrap", "launched", "none"])
def test_timeout_kills_the_command_and_its_children(worktree, kind):
    seconds = str(40000 + uuid.uuid4().int % 20000)  # a sleep length no other process uses
    started = time.monotonic()
    made = (make_sandbox(worktree, launcher=True) if kind == "launched"
            else make_sandbox(worktree, kind))
    result = made.run(
        f"echo started; sleep {seconds} & sleep {seconds}; echo never", 1, 10_000
    )
    assert time.monotonic() - started < 5
    assert result.timed_out and result.exit_code is None
    assert result.output == "started\n"
    time.sleep(0.2)
    assert _processes_with(f"sleep\0{seconds}") == []


def test_fork_bomb_is_contained(worktree, launched):
    sandbox = BubblewrapSandbox(worktree, launcher=launched, limits=Limits(processes=64))
    result = sandbox.run("bomb() { bomb | bomb & }; bomb; sleep 2; echo alive", 4, 2_000)
    assert "fork: retry" in result.output or "Resource temporarily unavailable" in result.output
    # The machine survived: we can still start processes, and nothing of the bomb is left.
    assert sandbox.run("echo fine", 10, 100).output == "fine\n"


def test_file_size_limit_stops_a_huge_write(worktree, launched):
    limit = 20 * 1024 * 1024
    sandbox = BubblewrapSandbox(worktree, launcher=launched, limits=Limits(file_size_bytes=limit))
    result = sandbox.run("head -c 10G /dev/zero > /workspace/big", 30, 10_000)
    assert result.exit_code != 0
    assert (worktree / "big").stat().st_size <= limit


def test_limits_reach_the_command(worktree, launched):
    limits = Limits(cpu_seconds=77, memory_bytes=3 * 1024**3, processes=99, file_size_bytes=4096)
    result = BubblewrapSandbox(worktree, launcher=launched, limits=limits).run(
        "ulimit -t; ulimit -f; ulimit -v; ulimit -u", 10, 1000
    )
    cpu, file_size, memory, processes = result.output.split()
    assert (cpu, file_size) == ("77", "4")  # bash reports -f (and -v) in KiB
    if os.geteuid() == 0:  # a cgroup bounds them for the command as a whole (test_sandbox_parts)
        assert memory == "unlimited" and processes != "99"
    else:
        assert (memory, processes) == (str(3 * 1024**2), "99")


def test_commands_run_at_a_lower_cpu_priority_than_the_worker(worktree, launched):
    """Acknowledgements and Orca's own work take the CPU before the agent's commands."""
    for niceness in (10, 3):
        sandbox = BubblewrapSandbox(worktree, launcher=launched, limits=Limits(niceness=niceness))
        result = sandbox.run("nice; (sleep 0.1 & nice)", 10, 1000)
        expected = str(min(19, os.nice(0) + niceness))
        assert result.output.split() == [expected, expected], result.output


def test_files_made_inside_stay_usable_outside(sandbox, worktree):
    command = "mkdir -p sub && echo made > sub/new.txt && chmod 600 sub/new.txt"
    result = sandbox.run(command, 10, 1000)
    assert result.exit_code == 0, result.output
    made = worktree / "sub" / "new.txt"
    # Orca's own uid, or nobody's when Orca is root (jobs.sandbox.user); root reads it anyway.
    assert made.stat().st_uid == (SANDBOX_UID if os.geteuid() == 0 else os.geteuid())
    made.write_text(made.read_text() + "appended\n")
    assert made.read_text() == "made\nappended\n"


def test_ro_and_rw_binds_appear_at_their_own_paths(worktree, tmp_path, launched):
    # As the lead uses them: the git mirror read-only, the worktree's admin dir inside it writable.
    ro, rw = tmp_path / "mirror", tmp_path / "mirror" / "worktrees" / "wt"
    rw.mkdir(parents=True)
    (ro / "HEAD").write_text("ref: refs/heads/main\n")
    sandbox = BubblewrapSandbox(worktree, ro_binds=[ro], rw_binds=[rw], launcher=launched)
    result = sandbox.run(f"cat {ro}/HEAD; touch {ro}/x; touch {rw}/y && echo ok", 10, 1000)
    assert "ref: refs/heads/main" in result.output and result.output.endswith("ok\n")
    assert not (ro / "x").exists() and (rw / "y").exists()


def test_output_is_merged_in_order_and_cut_in_the_middle(sandbox):
    result = sandbox.run("echo out1; echo err1 >&2; echo out2", 10, 1000)
    assert result.output == "out1\nerr1\nout2\n" and not result.truncated
    result = sandbox.run("echo HEAD; seq 1 100000; echo TAIL", 10, 200)
    assert result.truncated and result.exit_code == 0
    assert result.output.startswith("HEAD\n") and result.output.endswith("TAIL\n")
    assert "characters cut ...]" in result.output


def test_exit_codes_and_cwd(sandbox):
    assert sandbox.run("pwd; exit 3", 10, 100).output == "/workspace\n"
    assert sandbox.run("exit 3", 10, 100).exit_code == 3


def test_host_path_maps_and_refuses(sandbox, worktree, tmp_path):
    (worktree / "inside").symlink_to("README.md")
    # Inside the sandbox the host's path does not exist, so this link leads nowhere under root.
    (worktree / "host_absolute").symlink_to(worktree / "README.md")
    (worktree / "absolute").symlink_to("/workspace/README.md")
    (worktree / "outside").symlink_to(tmp_path)
    (worktree / "dotdot").symlink_to("../..")
    assert sandbox.host_path("/workspace") == worktree.resolve()
    assert sandbox.host_path("/workspace/a/../README.md") == worktree.resolve() / "README.md"
    assert sandbox.host_path("/workspace/inside") == worktree.resolve() / "README.md"
    assert sandbox.host_path("/workspace/absolute") == worktree.resolve() / "README.md"
    for bad in ("README.md", "/workspace/../etc/passwd", "/etc/passwd", "/workspacex",
                "/workspace/outside/x", "/workspace/dotdot/x", "/workspace/host_absolute"):
        with pytest.raises(SandboxPathError):
            sandbox.host_path(bad)


def test_no_sandbox_runs_in_the_worktree_with_a_clean_env(worktree, monkeypatch):
    monkeypatch.setenv("ORCA_TEST_SECRET", "s3cr3t")
    sandbox = make_sandbox(worktree, "none")
    assert isinstance(sandbox, NoSandbox) and sandbox.root == str(worktree.resolve())
    result = sandbox.run("pwd; env", 10, 10_000)
    assert result.output.startswith(f"{worktree.resolve()}\n") and "s3cr3t" not in result.output


def test_unknown_mode_is_refused(worktree):
    with pytest.raises(SandboxUnavailable, match="unknown sandbox mode"):
        make_sandbox(worktree, "docker")


def test_the_command_holds_no_capabilities(sandbox):
    result = sandbox.run("grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status", 10, 1000)
    assert result.output.split() == ["CapPrm:", "0" * 16, "CapEff:", "0" * 16, "CapBnd:", "0" * 16]


def test_the_private_tmp_has_a_size(worktree, launched):
    sandbox = BubblewrapSandbox(worktree, launcher=launched,
                                limits=Limits(tmp_bytes=2 * 1024 * 1024))
    result = sandbox.run("head -c 3M /dev/zero > /tmp/fill; echo $?; stat -c %s /tmp/fill", 10, 1000)
    status, size = result.output.split()[-2:]
    assert status != "0" and int(size) <= 2 * 1024 * 1024, result.output
