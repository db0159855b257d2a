"""The sandbox's parts one by one: its command line, its cgroup, and the words for a bound a command ran into. Real bwrap and cgroups where the part is about them."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from jobs.sandbox import BubblewrapSandbox, Limits
from jobs.sandbox_argv import CommandFds, Mounts, bwrap_argv, tmp_free
from jobs.sandbox_bounds import Measures, bounds_hit, human_bytes, tally_line
from jobs.sandbox_cgroup import CgroupLayout, CommandCgroup

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups are used as root only")


def test_argv_drops_capabilities_unshares_everything_and_sizes_tmp(tmp_path):
    argv = bwrap_argv("make test", Mounts(tmp_path), Limits(tmp_bytes=12345))
    assert argv[:9] == ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns",
                        "--unshare-net", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    at = argv.index("--tmpfs")
    assert argv[at - 2:at + 2] == ["--size", "12345", "--tmpfs", "/tmp"]
    assert argv[-3:] == ["bash", "-c", "make test"]


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
def test_a_real_cgroup_names_the_memory_and_process_bounds(tmp_path):
    sandbox = BubblewrapSandbox(tmp_path, limits=Limits(memory_bytes=64 * 1024**2, processes=40))
    memory = sandbox.run("python3 -c \"b = b'x' * (256 << 20)\"; echo after", 30, 2000)
    assert [hit.name for hit in memory.bounds] == ["out of memory (64 MiB)"]
    assert memory.output.endswith("after\n")
    forks = sandbox.run("for i in $(seq 60); do sleep 5 & done; wait", 30, 2000)
    assert "process limit (40)" in [hit.name for hit in forks.bounds]
    assert sandbox.run("echo fine", 10, 100).bounds == ()
