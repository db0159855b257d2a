"""Which test command Orca picks, and why: a table of repositories' files."""

from __future__ import annotations

import os
import subprocess

import pytest

from jobs.verify import detect
from jobs.verify.detect import (
    CONFIG_WHY,
    PYTEST,
    Detected,
    RepoFiles,
    candidates,
    files_at,
    why_none,
)

PYPROJECT_CONFIGURED = """
[project]
name = "x"
[project.optional-dependencies]
test = ["pytest>=8", "responses"]
[tool.pytest.ini_options]
addopts = "-ra"
"""
PYPROJECT_GROUPS = """
[project]
name = "x"
[dependency-groups]
dev = ["pytest-cov>=5", {include-group = "lint"}]
lint = ["ruff"]
"""
POETRY = """
[tool.poetry]
name = "x"
[tool.poetry.group.dev.dependencies]
pytest = {version = "^8"}
[tool.pytest]
minversion = "9.0"
"""
NPM_DEFAULT = '{"scripts": {"test": "echo \\"Error: no test specified\\" && exit 1"}}'
A_TEST = "def test_x():\n    assert True\n"


CASES = [
    # (files, expected command, a phrase its reason says)
    ({"pyproject.toml": PYPROJECT_CONFIGURED}, PYTEST,
     "`pyproject.toml` has [tool.pytest.ini_options], and `pyproject.toml` names pytest"),
    ({"pyproject.toml": PYPROJECT_GROUPS, "tests/test_a.py": A_TEST}, PYTEST,
     "a `tests/` folder holds `test_*.py` files, and `pyproject.toml` names pytest"),
    ({"pyproject.toml": POETRY}, PYTEST, "`pyproject.toml` has [tool.pytest]"),
    ({"pytest.ini": "[pytest]\n", "requirements-dev.txt": "# tools\npytest==8.3.2\nruff\n"},
     PYTEST, "`pytest.ini`, and `requirements-dev.txt` names pytest"),
    ({"setup.cfg": "[tool:pytest]\naddopts = -q\n[options.extras_require]\ntest =\n  pytest\n"},
     PYTEST, "`setup.cfg` has [tool:pytest], and `setup.cfg` names pytest"),
    ({"tox.ini": "[testenv]\ndeps =\n  pytest\n[pytest]\n", "src/x.py": ""}, PYTEST,
     "`tox.ini` has [pytest], and `tox.ini` names pytest"),
    ({"setup.py": "setup(tests_require=['pytest>=7'])", "test/test_b.py": A_TEST}, PYTEST,
     "`test/` folder"),
    ({"requirements/test.txt": "pytest\n", "conftest.py": ""}, PYTEST,
     "`conftest.py`, and `requirements/test.txt` names pytest"),
    ({"Pipfile": '[dev-packages]\npytest = "*"\n', "pkg/tests/test_c.py": A_TEST}, PYTEST,
     "`Pipfile` names pytest"),
    ({"package.json": '{"scripts": {"test": "jest"}}'}, "npm test",
     "npm test: `package.json` has a test script other than npm's default"),
    ({"go.mod": "module x\n", "x_test.go": "package x\n"}, "go test ./...",
     "go test ./...: `go.mod`, and `_test.go` files"),
    ({"Cargo.toml": "[package]\nname = \"x\"\n"}, "cargo test", "cargo test: `Cargo.toml`"),
]


@pytest.mark.parametrize(("mapping", "command", "why"), CASES)
def test_a_runner_is_picked_with_confidence_and_says_why(mapping, command, why):
    found = detect.test_command(None, RepoFiles.of(mapping))
    assert found is not None and found.command == command
    assert why in found.why


NOT_CONFIDENT = [
    # pytest configured, but not named as a dependency: setup would not install it
    {"pyproject.toml": "[tool.pytest.ini_options]\n"},
    # pytest named, but no configuration and no tests folder
    {"requirements.txt": "pytest\n", "x.py": ""},
    # tests, but no pytest anywhere (unittest)
    {"requirements.txt": "requests\n", "tests/test_a.py": A_TEST},
    # a plugin-like name that is not pytest's
    {"requirements.txt": "pytest11\npytestish\n", "tests/test_a.py": A_TEST},
    # a requirements file deep in the docs is not the project's
    {"docs/requirements.txt": "pytest\n", "tests/test_a.py": A_TEST},
    # the word in a comment is not a requirement
    {"requirements.txt": "# we used pytest once\n", "tests/test_a.py": A_TEST},
    # npm's default script fails on purpose; no script; not a string; not JSON
    {"package.json": NPM_DEFAULT},
    {"package.json": '{"name": "x"}'},
    {"package.json": '{"scripts": {"test": ["jest"]}}'},
    {"package.json": "{not json"},
    # go without a test file; a go.mod not at the root
    {"go.mod": "module x\n", "main.go": "package main\n"},
    {"sub/go.mod": "module x\n", "sub/x_test.go": ""},
    # broken TOML is no sign of anything
    {"pyproject.toml": "[tool.pytest.ini_options\npytest", "tests/test_a.py": A_TEST},
    {},
]


@pytest.mark.parametrize("mapping", NOT_CONFIDENT)
def test_without_confidence_nothing_is_picked(mapping):
    repo = RepoFiles.of(mapping)
    assert detect.test_command(None, repo) is None
    assert "found no test runner it could pick with confidence" in why_none(repo)


def test_the_config_wins_over_anything_found():
    repo = RepoFiles.of({"Cargo.toml": "", "package.json": '{"scripts": {"test": "jest"}}'})
    assert detect.test_command("make check", repo) == Detected("make check", CONFIG_WHY, "config")
    assert detect.test_command("  ", RepoFiles.of({"Cargo.toml": ""})).command == "cargo test"


def test_two_runners_are_ambiguous_and_orca_says_so():
    repo = RepoFiles.of({"pyproject.toml": PYPROJECT_CONFIGURED,
                         "package.json": '{"scripts": {"test": "vitest run"}}'})
    assert [d.runner for d in candidates(repo)] == ["pytest", "npm"]
    assert detect.test_command(None, repo) is None
    assert why_none(repo) == (
        f"the repository has more than one test runner (`{PYTEST}`, `npm test`), so Orca did "
        "not guess; name the command with `test:` in `.github/orca.yml`")


def test_an_oversized_manifest_is_not_read():
    huge = '{"scripts": {"test": "jest"}, "pad": "' + "x" * 300_000 + '"}'
    assert detect.test_command(None, RepoFiles.of({"package.json": huge})) is None


def _commit(repo, name, content=None, link=None):
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if link:
        os.symlink(link, path)
    else:
        path.write_text(content)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"],
                   cwd=repo, check=True)


def test_files_are_read_from_the_commit_never_the_worktree_nor_through_a_link(tmp_path):
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    _commit(repo, "tests/test_a.py", A_TEST)
    outside = tmp_path / "outside.toml"
    outside.write_text(PYPROJECT_CONFIGURED)
    _commit(repo, "pyproject.toml", link=str(outside))  # a link to a file of the worker's
    assert detect.test_command(None, files_at(repo / ".git", "HEAD")) is None
    (repo / "pyproject.toml").unlink()
    _commit(repo, "requirements.txt", "pytest\n")
    (repo / "package.json").write_text('{"scripts": {"test": "jest"}}')  # not committed
    found = detect.test_command(None, files_at(repo / ".git", "HEAD"))
    assert found is not None and found.command == PYTEST
    assert found.why == ("pytest: a `tests/` folder holds `test_*.py` files, and "
                         "`requirements.txt` names pytest")
