"""pip in the real sandbox, from a package index on a public address (tests/package_index.py):
the install a repository's setup would run works with `network: true` and fails fast without.

Each command makes a venv in the worktree with the host's python3 (the sandbox sees /usr
read-only) and installs into it with that venv's pip, as a setup command would.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jobs.sandbox import make_sandbox
from tests.package_index import PackageIndex

VENV = "/usr/bin/python3 -m venv .venv"
# pip's own defaults are a 15 s timeout and 5 retries per request.
BOUNDED = "--timeout 2 --retries 0"


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    path = tmp_path / "worktree"
    path.mkdir()
    return path


def install(index: PackageIndex, name: str) -> str:
    return f".venv/bin/pip install {BOUNDED} {index.pip_options} {name}"


def installed(worktree: Path) -> list[str]:
    return sorted(p.name for p in worktree.glob(".venv/lib/python3*/site-packages/orca_*.py"))


def test_pip_installs_from_the_index_over_the_network_and_the_modules_import(
        package_index, worktree):
    name = package_index.add_probes(5)
    sandbox = make_sandbox(worktree, network=True)
    result = sandbox.run(f"{VENV} && {install(package_index, name)} && .venv/bin/python -c "
                         "'import orca_probe_all; print(orca_probe_all.NUMBERS)'", 300, 100_000)
    assert result.exit_code == 0, result.output
    assert f"Looking in indexes: {package_index.url}" in result.output
    assert ("Successfully installed orca-probe-000-1.0 orca-probe-001-1.0 orca-probe-002-1.0 "
            "orca-probe-003-1.0 orca-probe-004-1.0 orca-probe-all-1.0") in result.output
    assert result.output.endswith("\n[0, 1, 2, 3, 4]\n")
    assert installed(worktree) == [*(f"orca_probe_{n:03}.py" for n in range(5)),
                                   "orca_probe_all.py"]


def test_without_the_network_the_same_install_fails_at_once(package_index, worktree):
    """Then, in the same worktree, the same install with the network on succeeds."""
    name = package_index.add_probes(1)
    assert make_sandbox(worktree).run(VENV, 120, 10_000).exit_code == 0
    started = time.monotonic()
    offline = make_sandbox(worktree).run(install(package_index, name), 120, 100_000)
    took = time.monotonic() - started
    assert offline.exit_code == 1, offline.output
    # pip names no cause at this verbosity (the index page "has no versions"); the install with
    # the network on below is what shows the failure was the network's.
    assert "No matching distribution found for orca-probe-all" in offline.output
    assert took < 15, f"pip took {took:.1f} s to give up"
    assert installed(worktree) == []
    online = make_sandbox(worktree, network=True).run(install(package_index, name), 120, 100_000)
    assert online.exit_code == 0, online.output
    assert installed(worktree) == ["orca_probe_000.py", "orca_probe_all.py"]
