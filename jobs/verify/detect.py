"""Which test command Orca runs: the one `.github/orca.yml` names, or one found with confidence
from the files at the base commit, with the reason in words.

Confidence means the repository says which runner it uses, not just which language it is in:

- pytest: pytest configured (`[tool.pytest.ini_options]` or `[tool.pytest]` in
  `pyproject.toml`, `pytest.ini`, `[tool:pytest]` in `setup.cfg`, `[pytest]` in `tox.ini`,
  a root `conftest.py`) or a `tests/` or `test/` folder holding `test_*.py` / `*_test.py`,
  AND pytest (or a pytest plugin) named in a dependency file (`pyproject.toml`'s dependency
  lists, `requirements*.txt`/`.in`, `setup.py`, `setup.cfg`, `tox.ini`, `Pipfile`). Run as
  `python3 -m pytest -q` (a `.venv` setup made is on the PATH: jobs.verify.run).
- npm test: a root `package.json` whose `test` script is not npm's default
  `echo "Error: no test specified" && exit 1`.
- go test ./...: a root `go.mod` and at least one `_test.go` file.
- cargo test: a root `Cargo.toml`.

When more than one of these holds (a Python service with a JavaScript front end), Orca does
not guess: it runs nothing and says so, and the repository can name one with `test:`.

Files are read from git objects at the base commit (jobs.workspace.repo_files), never from the
worktree, which the agent writes; each at most MAX_FILE_BYTES. Deciding is pure.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from jobs.verify import python_signs as py
from jobs.workspace.environments import tracked_blobs
from jobs.workspace.repo_files import NotRegularFile, find_blob, read_text

# Manifests and configs are a few KB; 256 KB keeps a hostile one cheap to parse.
MAX_FILE_BYTES = 256_000
CONFIG_WHY = "`.github/orca.yml` names it"
PYTEST = "python3 -m pytest -q"
# npm's `npm init` default, `echo "Error: no test specified" && exit 1`, fails on purpose: it is
# not a test suite.
NPM_DEFAULT_MARK = "Error: no test specified"
_REQUIREMENTS = ("*requirements*.txt", "*requirements*.in")
_TEST_FOLDERS = ("tests", "test")
_REGULAR = ("100644:", "100755:")


@dataclass(frozen=True)
class Detected:
    """The test command Orca runs and why it picked it."""

    command: str
    why: str
    """Markdown: "pytest: `pyproject.toml` has [tool.pytest.ini_options], ..."."""
    runner: str
    """"config", "pytest", "npm", "go" or "cargo"."""


@dataclass(frozen=True)
class RepoFiles:
    """The files at one commit: every tracked path, and a reader for small regular files."""

    paths: frozenset[str]
    read: Callable[[str], str | None]
    """The file's text; None when it is missing, not a regular file, too large or not UTF-8."""

    @classmethod
    def of(cls, files: Mapping[str, str]) -> RepoFiles:
        """From a mapping of path to text (tests, and callers that have the files already)."""
        return cls(frozenset(files), lambda path: files.get(path))


def files_at(repository: Path, revision: str) -> RepoFiles:
    """The files of `revision` in Orca's git directory `repository`, from git objects."""

    def read(path: str) -> str | None:
        try:
            blob = find_blob(repository, revision, path)
            if blob is None or blob.size > MAX_FILE_BYTES:
                return None
            return read_text(repository, blob)
        except (NotRegularFile, UnicodeDecodeError):
            return None

    blobs = tracked_blobs(repository, revision)  # path → "mode:sha"
    regular = frozenset(path for path, blob in blobs.items() if blob.startswith(_REGULAR))
    return RepoFiles(regular, read)


def test_command(config_test: str | None, files: RepoFiles) -> Detected | None:
    """The config's command, else the one runner found with confidence, else None."""
    if config_test and config_test.strip():
        return Detected(config_test.strip(), CONFIG_WHY, "config")
    found = candidates(files)
    return found[0] if len(found) == 1 else None


def why_none(files: RepoFiles) -> str:
    """Why `test_command` found nothing, for "Orca did not run any tests: ..."."""
    found = candidates(files)
    if len(found) > 1:
        names = ", ".join(f"`{d.command}`" for d in found)
        return (f"the repository has more than one test runner ({names}), so Orca did not "
                "guess; name the command with `test:` in `.github/orca.yml`")
    return ("`.github/orca.yml` names no `test` command, and Orca found no test runner it "
            "could pick with confidence (pytest, `npm test`, `go test ./...`, `cargo test`)")


def candidates(files: RepoFiles) -> list[Detected]:
    """Every runner the files show with confidence, in a fixed order."""
    found = (_pytest(files), _npm(files), _go(files), _cargo(files))
    return [d for d in found if d is not None]


def _pytest(files: RepoFiles) -> Detected | None:
    named = _pytest_named_in(files)
    sign = _pytest_configured_in(files) or _tests_folder(files)
    if named is None or sign is None:
        return None
    return Detected(PYTEST, f"pytest: {sign}, and `{named}` names pytest", "pytest")


def _pytest_configured_in(files: RepoFiles) -> str | None:
    if (text := _read(files, "pyproject.toml")) is not None:
        if table := py.pyproject_configures_pytest(py.pyproject(text)):
            return f"`pyproject.toml` has {table}"
    if "pytest.ini" in files.paths:
        return "`pytest.ini`"
    if (text := _read(files, "setup.cfg")) and py.cfg_configures_pytest(text, "tool:pytest"):
        return "`setup.cfg` has [tool:pytest]"
    if (text := _read(files, "tox.ini")) and py.cfg_configures_pytest(text, "pytest"):
        return "`tox.ini` has [pytest]"
    if "conftest.py" in files.paths:
        return "`conftest.py`"
    return None


def _tests_folder(files: RepoFiles) -> str | None:
    for path in sorted(files.paths):
        *folders, name = path.split("/")
        if not (name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))):
            continue
        if folder := next((f for f in folders if f in _TEST_FOLDERS), None):
            return f"a `{folder}/` folder holds `test_*.py` files"
    return None


def _pytest_named_in(files: RepoFiles) -> str | None:
    """The first dependency file that names pytest."""
    readers: list[tuple[str, Callable[[str], bool]]] = [
        ("pyproject.toml", lambda text: py.pyproject_names_pytest(py.pyproject(text))),
        *((path, py.requirements_name_pytest) for path in _requirement_files(files)),
        ("setup.py", py.setup_py_names_pytest),
        ("setup.cfg", py.cfg_names_pytest),
        ("tox.ini", py.cfg_names_pytest),
        ("Pipfile", lambda text: py.pipfile_names_pytest(py.pyproject(text))),
    ]
    for path, names_it in readers:
        if (text := _read(files, path)) is not None and names_it(text):
            return path
    return None


def _requirement_files(files: RepoFiles) -> list[str]:
    """`*requirements*.txt` / `.in` at the root, and any `.txt` / `.in` in `requirements/`."""
    found = []
    for path in files.paths:
        folder, _, name = path.rpartition("/")
        if (folder == "" and any(fnmatch.fnmatchcase(name, p) for p in _REQUIREMENTS)
                or folder == "requirements" and name.endswith((".txt", ".in"))):
            found.append(path)
    return sorted(found)


def _npm(files: RepoFiles) -> Detected | None:
    text = _read(files, "package.json")
    try:
        manifest = json.loads(text) if text is not None else None
    except (ValueError, RecursionError):
        return None
    scripts = manifest.get("scripts") if isinstance(manifest, dict) else None
    script = scripts.get("test") if isinstance(scripts, dict) else None
    if not isinstance(script, str) or not script.strip() or NPM_DEFAULT_MARK in script:
        return None
    return Detected("npm test", "npm test: `package.json` has a test script other than npm's "
                                "default", "npm")


def _go(files: RepoFiles) -> Detected | None:
    if "go.mod" not in files.paths or not any(p.endswith("_test.go") for p in files.paths):
        return None
    return Detected("go test ./...", "go test ./...: `go.mod`, and `_test.go` files", "go")


def _cargo(files: RepoFiles) -> Detected | None:
    if "Cargo.toml" not in files.paths:
        return None
    return Detected("cargo test", "cargo test: `Cargo.toml`", "cargo")


def _read(files: RepoFiles, path: str) -> str | None:
    if path not in files.paths:
        return None
    text = files.read(path)
    return text if text is not None and len(text) <= MAX_FILE_BYTES else None
