"""The sandbox's parts one by one: its command line, its cgroup, its network rules and the
words for a bound a command ran into. Real bwrap and cgroups where the part is about them."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import pytest

from jobs.sandbox import BubblewrapSandbox, Limits, SandboxUnavailable, make_sandbox
from jobs.sandbox.argv import CommandFds, Mounts, bwrap_argv, rlimits, tmp_free
from jobs.sandbox.bounds import Measures, bounds_hit, human_bytes, tally_line
from jobs.sandbox.cgroup import CgroupLayout, CommandCgroup
from jobs.sandbox.network import REFUSED, egress_problem, own_addresses, rules
from jobs.sandbox.scratch import Scratch
from jobs.sandbox.user import SANDBOX_GID, SANDBOX_UID, lend

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups are used as root only")


def test_argv_drops_capabilities_unshares_everything_and_sizes_tmp(tmp_path):
    argv = bwrap_argv("make test", Mounts(tmp_path), Limits(tmp_bytes=12345))
    assert argv[:8] == ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns",
                        "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    assert "--share-net" not in argv
    at = argv.index("--tmpfs")
    assert argv[at - 2:at + 2] == ["--size", "12345", "--tmpfs", "/tmp"]
    limits = ("ulimit -t 600 -f 1048576 -u 512 -v 4194304 || exit 125; "
              "echo 10 2>/dev/null >/proc/self/autogroup; ")
    assert argv[-8:] == ["nice", "-n", "10", "bash", "-c", limits + 'exec bash -c "$1"',
                         "orca-sandbox", "make test"]
    assert "--json-status-fd" not in argv and "--block-fd" not in argv


def test_rlimits_leave_to_a_cgroup_what_it_bounds_and_a_shell_joins_it_first(tmp_path):
    limits = Limits(cpu_seconds=7, memory_bytes=64 * 1024**2, processes=9, file_size_bytes=4096)
    v1 = CommandCgroup(CgroupLayout(tmp_path / "pids", tmp_path / "memory", 1), 9, 1)
    no_memory = CommandCgroup(CgroupLayout(tmp_path / "pids", None, 1), 9, 1)
    assert rlimits(limits) == "-t 7 -f 4 -u 9 -v 65536"
    assert rlimits(limits, v1) == "-t 7 -f 4"
    assert rlimits(limits, no_memory) == "-t 7 -f 4 -v 65536"
    argv = bwrap_argv("true", Mounts(tmp_path), limits, cgroup=v1)
    assert argv[:3] == ["/bin/sh", "-c", argv[2]] and argv[3:7] == [
        "orca-join", str(v1.pids / "cgroup.procs"), str(v1.memory / "cgroup.procs"), "--"]
    assert argv[7] == "bwrap"
    assert bwrap_argv("true", Mounts(tmp_path), Limits(niceness=0))[-7:-4] == [
        "--chdir", "/workspace", "bash"]


def test_argv_with_fds_reports_tmp_blocks_and_binds_its_own_resolver(tmp_path):
    fds = CommandFds(report=7, status=8, block=9, resolv=10)
    argv = bwrap_argv("make test", Mounts(tmp_path), Limits(), fds)
    pairs = dict(zip(argv, argv[1:]))
    assert pairs["--json-status-fd"] == "8" and pairs["--block-fd"] == "9"
    assert argv[argv.index("--ro-bind-data"):][:3] == ["--ro-bind-data", "10", "/etc/resolv.conf"]
    assert ["--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf"] not in [
        argv[i:i + 3] for i in range(len(argv))]
    assert argv[-2:] == ["orca-sandbox", "make test"] and "7>&-" in argv[-3]


def test_tmp_report_parses_or_says_nothing():
    assert tmp_free("10 4096 4096\n") == (40960, 16 * 1024**2)
    assert tmp_free("") is None and tmp_free("garbage") is None


def test_bounds_are_named_from_what_was_measured():
    limits = Limits(cpu_seconds=5, memory_bytes=64 * 1024**2, processes=32,
                    file_size_bytes=1024**3, tmp_bytes=16 * 1024**2)
    assert bounds_hit(limits, Measures(exit_code=0)) == ()
    assert bounds_hit(limits, Measures(0, tmp_free=(1024**2, 16 * 1024**2))) == ()
    hits = bounds_hit(limits, Measures(137, oom_kills=2, fork_refusals=1,
                                       tmp_free=(4096, 16 * 1024**2)))
    assert [hit.name for hit in hits] == ["out of memory (64 MiB)", "/tmp full (16 MiB)",
                                          "process limit (32)"]
    assert "the kernel killed 2 processes" in hits[0].note
    assert "ORCA_SANDBOX_TMP_SIZE" in hits[1].note and "1 fork past it failed" in hits[2].note
    [cpu] = bounds_hit(limits, Measures(128 + signal.SIGXCPU))
    [size] = bounds_hit(limits, Measures(128 + signal.SIGXFSZ))
    assert cpu.name == "CPU time (5 s)" and size.name == "file size (1 GiB)"


def test_sizes_and_the_comment_line_read_well():
    assert [human_bytes(n) for n in (4 * 1024**3, 1536 * 1024**2, 4096, 10)] == [
        "4 GiB", "1.5 GiB", "4 KiB", "10 bytes"]
    assert tally_line({}) == ""
    assert tally_line({"out of memory (4 GiB)": 1, "/tmp full (1 GiB)": 3}) == (
        "⚠️ Commands ran into the sandbox's bounds: out of memory (4 GiB) once, "
        "/tmp full (1 GiB) 3 times.")


@pytest.mark.parametrize("version", [1, 2])
def test_cgroup_sets_limits_and_reads_counters_on_either_version(tmp_path, version):
    """Against plain directories laid out as the kernel's files, one per controller on v1."""
    pids = tmp_path / "pids"
    memory = tmp_path / "memory" if version == 1 else pids
    for parent in {pids, memory}:
        parent.mkdir()
    group = CommandCgroup(CgroupLayout(pids, memory, version), 99, 64 * 1024**2)
    group.create()
    assert (group.pids / "pids.max").read_text() == "99"
    limit = "memory.limit_in_bytes" if version == 1 else "memory.max"
    assert (group.memory / limit).read_text() == str(64 * 1024**2)
    events = "memory.oom_control" if version == 1 else "memory.events"
    (group.memory / events).write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    (group.pids / "pids.events").write_text("max 7\n")
    assert group.counters() == (3, 7)
    assert len(group.dirs) == (2 if version == 1 else 1)


@root_only
@pytest.mark.parametrize("launched", [False, True], ids=["alone", "launched"])
def test_a_real_cgroup_names_the_memory_and_process_bounds(tmp_path, launched):
    """A group per command, or the session's group with its launcher (counted per command)."""
    sandbox = BubblewrapSandbox(tmp_path, limits=Limits(memory_bytes=64 * 1024**2, processes=40),
                                launcher=launched)
    memory = sandbox.run("python3 -c \"b = b'x' * (256 << 20)\"; echo after", 30, 2000)
    assert [hit.name for hit in memory.bounds] == ["out of memory (64 MiB)"]
    assert memory.output.endswith("after\n")
    forks = sandbox.run("for i in $(seq 60); do sleep 1 & done; wait", 30, 2000)
    assert "process limit (40)" in [hit.name for hit in forks.bounds]
    assert sandbox.run("echo fine", 10, 100).bounds == ()


def test_rules_refuse_every_range_and_the_host_itself():
    ruleset = rules(["127.0.0.1", "10.1.2.3", "192.0.2.2", "198.51.100.1", "fd00::2",
                     "2001:db8::5"])
    for block in REFUSED:
        assert block in ruleset
    assert "ip daddr 10.0.2.3 udp dport 53 accept" in ruleset
    v4 = next(line for line in ruleset.splitlines() if line.strip().startswith("ip daddr {"))
    v6 = next(line for line in ruleset.splitlines() if line.strip().startswith("ip6 daddr {"))
    # The host's own addresses, each once; those inside a refused range are not repeated
    # (nft refuses overlapping elements in one set).
    assert v4.endswith("192.0.2.2, 198.51.100.1 } reject") and "10.1.2.3" not in v4
    assert v6.endswith("2001:db8::5 } reject") and "fd00::2" not in v6
    assert ruleset.index('oif "lo" accept') < ruleset.index("reject")


def test_own_addresses_include_this_hosts_non_loopback_ones():
    found = own_addresses()
    assert "127.0.0.1" in found and "::1" in found
    assert any(not a.startswith("127.") and ":" not in a for a in found), found


def test_egress_problem_names_what_is_missing(tmp_path):
    assert egress_problem() is None  # this machine has them all (.ci/run installs them)
    assert "slirp4netns, nft, nsenter are not installed" in egress_problem(path=str(tmp_path))
    assert "/dev/net/nothing is missing" in egress_problem(tun=Path("/dev/net/nothing"))


def test_the_network_is_never_shared_with_the_worker(tmp_path):
    for network in (False, True):
        argv = make_sandbox(tmp_path, network=network).argv("true")
        assert "--unshare-all" in argv and "--share-net" not in argv


def test_a_command_whose_network_cannot_be_set_up_never_runs(tmp_path, monkeypatch):
    """slirp4netns failing mid-run (here: a stand-in that exits at once) stops the command
    before it starts, with the cause; it never runs with the loopback only, or without rules."""
    import jobs.sandbox.network
    monkeypatch.setattr(jobs.sandbox.network, "SLIRP4NETNS", "/bin/false")
    sandbox = BubblewrapSandbox(tmp_path, network=True)
    with pytest.raises(SandboxUnavailable, match="network could not be set up for a command: "
                                                 "slirp4netns failed"):
        sandbox.run("touch /workspace/ran", 10, 1000)
    assert not (tmp_path / "ran").exists()


def test_staged_mounts_are_found_where_the_outer_bwrap_put_them(tmp_path):
    mounts = Mounts(tmp_path / "wt", (tmp_path / "mirror",), (tmp_path / "admin",), staged=True)
    argv = bwrap_argv("true", mounts, Limits())
    inner = argv.index("bwrap", 1)
    assert argv[:inner] == [
        "bwrap", "--dev-bind", "/", "/", "--tmpfs", "/tmp",
        "--bind", str(tmp_path / "wt"), "/tmp/0", "--bind", str(tmp_path / "mirror"), "/tmp/1",
        "--bind", str(tmp_path / "admin"), "/tmp/2", "--die-with-parent", "--",
        "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
        "--bounding-set=-all", "--"]
    binds = [argv[i:i + 3] for i in range(inner, len(argv)) if argv[i] in ("--bind", "--ro-bind")
             and argv[i + 1].startswith("/tmp/")]
    assert binds == [["--bind", "/tmp/0", "/workspace"],
                     ["--ro-bind", "/tmp/1", str(tmp_path / "mirror")],
                     ["--bind", "/tmp/2", str(tmp_path / "admin")]]
    assert Mounts(tmp_path / "wt").binds() == [("--bind", str(tmp_path / "wt"), "/workspace")]


def test_the_scratch_directory_is_bound_read_only_at_a_fixed_path_staged_or_not(tmp_path):
    plain = Mounts(tmp_path / "wt", (tmp_path / "mirror",), scratch=tmp_path / "s")
    assert plain.binds()[-1] == ("--ro-bind", str(tmp_path / "s"), "/orca-scratch")
    staged = Mounts(tmp_path / "wt", (tmp_path / "mirror",), (tmp_path / "admin",), staged=True,
                    scratch=tmp_path / "s")
    assert staged.sources()[-1] == tmp_path / "s"
    assert staged.binds()[-1] == ("--ro-bind", "/tmp/3", "/orca-scratch")
    argv = bwrap_argv("true", staged, Limits())
    assert argv[argv.index("/tmp/3") - 2:argv.index("/tmp/3") + 1] == [
        "--bind", str(tmp_path / "s"), "/tmp/3"]


@root_only
def test_lending_gives_nobody_the_tree_but_not_its_top_nor_what_links_lead_to(tmp_path):
    top, outside = tmp_path / "wt", tmp_path / "outside"
    (top / "src").mkdir(parents=True)
    (top / "src" / "app.py").write_text("x\n")
    (top / ".git").write_text("gitdir: /somewhere\n")
    outside.write_text("Orca's\n")
    (top / "src" / "link").symlink_to(outside)
    (top / "dirlink").symlink_to(tmp_path)
    lend(top, keep=[".git"])
    owner = lambda path: (path.lstat().st_uid, path.lstat().st_gid)  # noqa: E731
    assert owner(top) == (0, SANDBOX_GID) and top.stat().st_mode & 0o070 == 0o070
    assert owner(top / ".git") == (0, 0)
    for path in (top / "src", top / "src" / "app.py", top / "src" / "link", top / "dirlink"):
        assert owner(path) == (SANDBOX_UID, SANDBOX_GID), path
    assert owner(outside) == (0, 0) and owner(tmp_path) == (0, 0)


@pytest.mark.parametrize("as_root", [False, True])
def test_the_scratch_directory_is_private_to_orca_and_the_sandbox_user(tmp_path, monkeypatch, as_root):
    if as_root and os.geteuid() != 0:
        pytest.skip("giving a file to nobody's group needs root")
    monkeypatch.setattr("jobs.sandbox.scratch.switches_user", lambda: as_root)
    scratch = Scratch(tmp_path)
    name = scratch.keep(b"all of it")
    made = scratch.path
    assert made.parent == tmp_path and (made / name).read_bytes() == b"all of it"
    modes = (0o750, 0o640) if as_root else (0o700, 0o600)
    assert (stat.S_IMODE(made.stat().st_mode), stat.S_IMODE((made / name).stat().st_mode)) == modes
    if as_root:
        assert made.stat().st_gid == (made / name).stat().st_gid == SANDBOX_GID
    scratch.remove()
    assert not made.exists() and list(tmp_path.iterdir()) == []
