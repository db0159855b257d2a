"""Test commands run for real in the real bubblewrap sandbox, hostile runners included.

The sandbox sees the host's /usr read-only and no virtualenv, and this machine's
/usr/bin/python3 has no pytest; so, as setup would, each pytest repository gets a `.venv`
(made by /usr/bin/python3, `--without-pip`) holding the real pytest copied from the
interpreter running these tests. Node and npm are the host's. Go and cargo are not in the
sandbox here: `go test -json` is shown with a stand-in `go` that prints the events.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from jobs.sandbox import make_sandbox
from jobs.verify.compare import verdict
from jobs.verify.detect import PYTEST
from jobs.verify.results import Counts
from jobs.verify.run import TAIL_CHARS, run_tests

PYTEST_PACKAGES = ("pytest", "_pytest", "pluggy", "iniconfig", "packaging", "pygments", "py")
TESTS = """\
import pytest

def test_ok():
    assert True

def test_bad():
    assert 1 == 2

@pytest.mark.skip(reason="not today")
def test_skip():
    pass

class TestMaths:
    @pytest.mark.parametrize("n", [1, 2])
    def test_one(self, n):
        assert n == 1
"""


@pytest.fixture(scope="module")
def venv_with_pytest(tmp_path_factory) -> Path:
    """A `.venv` as setup would leave it: /usr/bin/python3's, with pytest installed."""
    venv = tmp_path_factory.mktemp("template") / ".venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)], check=True)
    version = subprocess.run(
        ["/usr/bin/python3", "-c", "import sys; print('python%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=True).stdout.strip()
    site = venv / "lib" / version / "site-packages"
    for name in PYTEST_PACKAGES:
        source = Path(importlib.import_module(name).__file__)
        if source.name == "__init__.py":
            shutil.copytree(source.parent, site / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, site / source.name)
    return venv


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    path = tmp_path / "worktree"
    path.mkdir()
    return path


def pytest_repo(worktree: Path, venv: Path, tests: str = TESTS) -> Path:
    shutil.copytree(venv, worktree / ".venv", symlinks=True)
    (worktree / "tests").mkdir()
    (worktree / "tests" / "test_a.py").write_text(tests)
    (worktree / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    return worktree


def sandbox_run(worktree: Path, command: str, timeout: float = 120):
    return run_tests(make_sandbox(worktree), command, timeout)


def test_pytest_gives_each_tests_outcome_the_counts_and_the_tail(worktree, venv_with_pytest):
    pytest_repo(worktree, venv_with_pytest)
    result = sandbox_run(worktree, PYTEST)
    assert (result.passed, result.exit_code, result.timed_out) == (False, 1, False)
    assert result.tests == {
        "tests/test_a.py::test_ok": "passed",
        "tests/test_a.py::test_bad": "failed",
        "tests/test_a.py::test_skip": "skipped",
        "tests/test_a.py::TestMaths::test_one[1]": "passed",
        "tests/test_a.py::TestMaths::test_one[2]": "failed",
    }
    assert result.counts == Counts(passed=2, failed=2, skipped=1) and result.per_test_note == ""
    assert re.search(r"\n2 failed, 2 passed, 1 skipped in [\d.]+s$", result.output_tail)
    assert "orca-verify-report" not in result.output_tail and "<testsuite" not in result.output_tail
    assert 0 < result.seconds < 60
    assert not list(worktree.glob("*.xml"))  # the report stayed in the command's own /tmp


def test_a_change_that_breaks_a_test_is_a_regression(worktree, venv_with_pytest):
    pytest_repo(worktree, venv_with_pytest, "def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    base = sandbox_run(worktree, PYTEST)
    (worktree / "tests" / "test_a.py").write_text(
        "def test_a():\n    assert False\n\ndef test_b():\n    pass\n\ndef test_new():\n    pass\n")
    after = sandbox_run(worktree, PYTEST)
    v = verdict(base, after)
    assert base.passed and not after.passed
    assert v.per_test and v.regressions == ("tests/test_a.py::test_a",)
    assert v.added == ("tests/test_a.py::test_new",) and v.regressed


def test_a_module_that_no_longer_imports_is_a_new_failure(worktree, venv_with_pytest):
    pytest_repo(worktree, venv_with_pytest, "def test_a():\n    pass\n")
    base = sandbox_run(worktree, PYTEST)
    (worktree / "tests" / "test_a.py").write_text("import nowhere\n\ndef test_a():\n    pass\n")
    v = verdict(base, sandbox_run(worktree, PYTEST))
    assert v.new_failures == ("tests/test_a.py",) and v.gone == ("tests/test_a.py::test_a",)
    assert v.regressed


def test_npm_test_with_nodes_runner_gives_counts_from_its_summary(worktree):
    (worktree / "package.json").write_text(json.dumps(
        {"name": "x", "version": "1.0.0", "scripts": {"test": "node --test"}}))
    (worktree / "test").mkdir()
    (worktree / "test" / "a.test.js").write_text(
        "const test = require('node:test'); const assert = require('node:assert');\n"
        "test('ok', () => {}); test('bad', () => assert.equal(1, 2));\n"
        "test('later', { skip: true }, () => {});\n")
    result = sandbox_run(worktree, "npm test")
    assert (result.passed, result.exit_code) == (False, 1)
    assert result.counts == Counts(passed=1, failed=1, skipped=1)
    assert result.tests is None and "no per-test report" in result.per_test_note


GO_STANDIN = """#!/bin/sh
# A stand-in for `go`: it checks it was asked for `test -json`, and prints such events.
[ "$1 $2" = "test -json" ] || { echo "expected go test -json, got: $*"; exit 2; }
cat <<'EVENTS'
{"Action":"run","Package":"x/a","Test":"TestOk"}
{"Action":"output","Package":"x/a","Test":"TestOk","Output":"=== RUN   TestOk\\n"}
{"Action":"pass","Package":"x/a","Test":"TestOk"}
{"Action":"fail","Package":"x/a","Test":"TestBad"}
{"Action":"output","Package":"x/a","Output":"FAIL\\tx/a\\t0.01s\\n"}
{"Action":"fail","Package":"x/a"}
EVENTS
exit 1
"""


def test_a_plain_go_test_command_is_read_from_go_test_json(worktree):
    (worktree / "bin").mkdir()
    (worktree / "bin" / "go").write_text(GO_STANDIN)
    (worktree / "bin" / "go").chmod(0o755)
    result = sandbox_run(worktree, "PATH=/workspace/bin:/usr/bin:/bin go test ./...")
    assert result.command == "PATH=/workspace/bin:/usr/bin:/bin go test ./..."
    assert result.tests == {"x/a::TestOk": "passed", "x/a::TestBad": "failed"}
    assert result.counts == Counts(passed=1, failed=1)
    assert result.output_tail == "=== RUN   TestOk\nFAIL\tx/a\t0.01s"


@pytest.mark.parametrize("command", [
    # 30 MB of noise: the output is cut, memory stays bounded, the tail is short
    "yes 'garbage line with 3 passed in words' | head -c 30000000; exit 3",
    # bytes that are not UTF-8, and lines far past any summary reader's patience
    "head -c 200000 /dev/urandom; printf '%0500000d\\n' 7; exit 3",
])
def test_a_runner_printing_garbage_or_floods_is_read_without_a_crash(worktree, command):
    started = time.monotonic()
    result = sandbox_run(worktree, command)
    assert (result.exit_code, result.passed, result.tests) == (3, False, None)
    assert result.counts is None
    assert len(result.output_tail) <= TAIL_CHARS + 1
    assert time.monotonic() - started < 60


def report_path() -> str:
    """Shell: the report path Orca asked pytest for, read back from PYTEST_ADDOPTS."""
    return 'f=${PYTEST_ADDOPTS#*--junitxml=}; f=${f%% *}'


BOMB = ('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
        + ']><testsuite><testcase name="&i;"/></testsuite>')


@pytest.mark.parametrize(("planting", "note"), [
    (f"printf '%s' '{BOMB}' > \"$f\"", "declares a DOCTYPE"),
    ("printf '<testsuite><testcase name=\"a\">' > \"$f\"", "not well-formed"),
    ("head -c 6000000 /dev/zero | tr '\\0' x > \"$f\"", "over 4,000,000 characters"),
    ("ln -s /etc/passwd \"$f\"", "wrote no per-test report"),
    ("mkfifo \"$f\"", "wrote no per-test report"),
])
def test_a_report_planted_where_junit_goes_gives_no_per_test_data(worktree, planting, note):
    result = sandbox_run(worktree, f"{report_path()}; {planting}; echo '1 failed in 0.1s'; exit 1",
                         timeout=60)
    assert not result.timed_out and result.exit_code == 1
    assert result.tests is None and note in result.per_test_note
    assert result.counts == Counts(failed=1)  # the summary line still counts


def test_a_forged_marker_in_the_output_is_not_taken_for_the_report(worktree):
    """The command can read Orca's marker from its parent's command line and print it; the
    report is what follows the last marker, which Orca prints after the command ends."""
    forge = ("m=$(tr '\\0' '\\n' < /proc/$PPID/cmdline | grep -ao 'orca-verify-report-[0-9a-f]*' "
             "| head -1); [ -n \"$m\" ] || exit 9; printf '\\n%s\\n%s' \"$m\" "
             "'<testsuite><testcase name=\"forged\"/></testsuite>'; exit 1")
    result = sandbox_run(worktree, forge)
    assert result.exit_code == 1
    assert result.tests is None and "no per-test report" in result.per_test_note


def test_a_command_past_its_timeout_is_killed_and_says_so(worktree):
    result = sandbox_run(worktree, "echo started; sleep 30", timeout=1)
    assert result.timed_out and not result.passed and result.exit_code is None
    assert result.per_test_note == "the command timed out" and "started" in result.output_tail


def test_the_command_runs_as_its_own_bash_whatever_it_does(worktree):
    """`exit`, unbalanced quotes in a comment, a failing `set -e`: the report still comes."""
    result = sandbox_run(worktree, "set -e; # it's\nfalse\necho never")
    assert result.exit_code == 1 and "never" not in result.output_tail
    assert "no per-test report" in result.per_test_note
    assert os.listdir(worktree) == []


def test_a_same_size_edit_in_the_same_second_is_not_hidden_by_a_stale_pycache(worktree):
    """Python trusts a `__pycache__` entry whose source has the recorded mtime (whole seconds)
    and size: the agent's own run writes one, an edit of the same size follows within the
    second, and only a fresh compile sees it."""
    (worktree / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (worktree / "test_calc.py").write_text(
        "import unittest\nfrom calc import add\n\n\nclass T(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(add(2, 2), 4)\n")
    command = "python3 -m unittest -q"
    sandbox = make_sandbox(worktree)
    second = int(time.time())
    os.utime(worktree / "calc.py", (second, second))
    sandbox.run("python3 -c 'import calc'", 60, 10_000)  # the agent's own run: calc's pyc
    assert list((worktree / "__pycache__").glob("calc.*.pyc"))
    (worktree / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    os.utime(worktree / "calc.py", (second, second))  # the same second, as a quick edit is
    after = run_tests(sandbox, command, 60)
    assert not after.passed and "AssertionError: 0 != 4" in after.output_tail
