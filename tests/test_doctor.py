"""`orca doctor` as an operator runs it: the real sandbox, real toolchains, no stand-ins.

The sandbox sees the host's /usr read-only and a clean PATH, so what doctor finds in it is
what the host's binaries on that PATH say; a toolchain absent from it here is reported missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.doctor import MARKER, TOOLCHAINS, read_findings
from jobs.sandbox.argv import CLEAN_ENV

ORCA = [sys.executable, "-m", "app.cli"]
SANDBOX_PATH = CLEAN_ENV["PATH"]
BINARIES = {tool.name: tool.binary for tool in TOOLCHAINS}


def doctor(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
           outer: list[str] = ()) -> subprocess.CompletedProcess:
    """`orca doctor` in an empty folder (no .env), with only PATH and `env` set."""
    return subprocess.run([*outer, *ORCA, "doctor", *args],
                          env={"PATH": os.environ["PATH"], **(env or {})}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def host_says(command: str) -> str:
    """The first line `command` prints on the host, with the environment the sandbox gives."""
    done = subprocess.run(["bash", "-c", command], env=dict(CLEAN_ENV), capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    return next(line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip())


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    done = doctor(tmp_path_factory.mktemp("doctor"), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def found(report: dict) -> dict[str, dict]:
    return {tool["name"]: tool for tool in report["tools"] if tool["found"]}


def test_doctor_runs_in_bubblewrap_and_lists_python3_and_make_with_the_hosts_versions(tmp_path):
    done = doctor(tmp_path)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("sandbox: bubblewrap: started; commands run as ")
    for name, version in (("python3", host_says("python3 --version")),
                          ("make", host_says("make --version"))):
        assert re.search(rf"^{name} +found +{re.escape(version)}$", done.stdout, re.MULTILINE)


def test_every_version_doctor_prints_is_what_the_hosts_binary_prints(report):
    tools = found(report)
    assert {"python3", "make", "git"} <= set(tools)
    for tool in TOOLCHAINS:
        if tool.name in tools:
            assert tools[tool.name]["version"] == host_says(tool.probe), tool.name
            assert tools[tool.name]["path"] == shutil.which(tool.binary, path=SANDBOX_PATH)


def test_a_toolchain_absent_from_the_sandboxs_path_here_is_missing(report):
    absent = [name for name in ("node", "go", "cargo", "rustc", "java")
              if shutil.which(BINARIES[name], path=SANDBOX_PATH) is None]
    if not absent:
        pytest.skip("node, go, cargo, rustc and java are all installed on this machine")
    tools = {tool["name"]: tool for tool in report["tools"]}
    for name in absent:
        assert tools[name] == {"name": name, "found": False, "version": "not on PATH",
                               "path": None}
    assert report["sandbox"] == "bubblewrap" and report["started"] is True


def hiding_bwrap() -> list[str]:
    """An outer bwrap that shows the whole host but a non-executable file where bwrap is."""
    candidates = [os.path.join(folder, "bwrap") for folder in SANDBOX_PATH.split(":")]
    places = {os.path.realpath(path) for path in candidates if os.path.exists(path)}
    assert places, "bubblewrap is not installed here"
    outer = ["bwrap", "--dev-bind", "/", "/"]
    for place in sorted(places):
        outer += ["--ro-bind", "/dev/null", place]
    return [*outer, "--"]


def test_without_bubblewrap_doctor_says_so_with_the_fix_and_exits_non_zero(tmp_path):
    done = doctor(tmp_path, outer=hiding_bwrap())
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip() == (
        "sandbox: bubblewrap: cannot start: bubblewrap (bwrap) is not installed; install it, "
        "or set ORCA_SANDBOX=none for a local trial")
    as_json = json.loads(doctor(tmp_path, "--json", outer=hiding_bwrap()).stdout)
    assert as_json["started"] is False and as_json["tools"] == []


def test_an_unknown_sandbox_stops_doctor_with_one_line(tmp_path):
    done = doctor(tmp_path, env={"ORCA_SANDBOX": "firejail"})
    assert done.returncode == 2
    assert done.stderr.strip() == "orca: ORCA_SANDBOX: Value error, must be 'bubblewrap' or 'none'"


def test_with_no_sandbox_doctor_says_unsandboxed_first(tmp_path):
    done = doctor(tmp_path, env={"ORCA_SANDBOX": "none"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sandbox: none: UNSANDBOXED: ORCA_SANDBOX=none runs commands "
                                  "directly on this machine")
    assert re.search(r"^python3 +found +Python 3\.", done.stdout, re.MULTILINE)


@pytest.mark.parametrize("output, expected", [
    (f"{MARKER} make 0 /usr/bin/make\nGNU Make 4.3\nBuilt for x86_64\n",
     (True, "GNU Make 4.3", "/usr/bin/make")),
    (f"{MARKER} make 127 \n\n", (False, "not on PATH", None)),
    (f"{MARKER} make 1 /usr/bin/make\nmake: oops\nmake: *** gave up\n",
     (False, "`make --version` failed: make: *** gave up", "/usr/bin/make")),
    (f"{MARKER} make 124 /usr/bin/make\n", (False, "`make --version` took over 20 s",
                                             "/usr/bin/make")),
    (f"{MARKER} make 137 /usr/bin/make\n", (False, "`make --version` was killed by SIGKILL",
                                             "/usr/bin/make")),
    ("orca-doctor: started\n", (False, "not asked: the check ran out of time first", None)),
])
def test_each_probes_output_reads_as_found_or_why_not(output, expected):
    make = next(tool for tool in TOOLCHAINS if tool.name == "make")
    [finding] = read_findings(output, (make,))
    assert (finding.found, finding.version, finding.path) == expected
