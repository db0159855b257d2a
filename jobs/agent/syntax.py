"""Whether an edited file still parses: Python, JSON, TOML and YAML, by the file's name.

The editor appends the first error, with its line, to the result of every edit. A warning only,
never a revert: a file may be broken on purpose halfway through a larger change, and the model
decides. (SWE-agent's ablation, https://arxiv.org/abs/2405.15793: its agent solved about three
points more of SWE-bench Lite with edits linted than without.)
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
import warnings
from collections.abc import Callable
from pathlib import PurePosixPath

import yaml

# YAML and TOML are parsed in pure Python: past 1 MB a check costs more than it tells.
MAX_CHECKED_CHARACTERS = 1_000_000
# JSON with comments, which json refuses: TypeScript's and VS Code's configuration files.
_JSONC = re.compile(r"^(tsconfig|jsconfig)(\..*)?\.json$|^devcontainer\.json$|^\.?eslintrc\.json$")
_TOML_AT = re.compile(r"^(.*) \(at line (\d+), column \d+\)$", re.DOTALL)


def _python(text: str) -> str | None:
    try:
        with warnings.catch_warnings():  # invalid escapes and the like are not syntax errors
            warnings.simplefilter("ignore")
            ast.parse(text)
    except SyntaxError as error:
        return f"line {error.lineno}: {error.msg}" if error.lineno else error.msg
    return None


def _json(text: str) -> str | None:
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        return f"line {error.lineno}: {error.msg}"
    return None


def _toml(text: str) -> str | None:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = _TOML_AT.match(str(error))
        return f"line {found[2]}: {found[1]}" if found else str(error)
    return None


def _yaml(text: str) -> str | None:
    try:
        # Composed, not constructed: syntax only, so application tags (`!Ref`) are no error.
        for _ in yaml.compose_all(text, Loader=yaml.SafeLoader):
            pass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        return f"{where}{error.problem or error.context}"
    except yaml.YAMLError as error:
        return str(error)
    return None


_CHECKS: dict[str, tuple[str, Callable[[str], str | None]]] = {
    ".py": ("Python", _python), ".pyi": ("Python", _python), ".json": ("JSON", _json),
    ".toml": ("TOML", _toml), ".yaml": ("YAML", _yaml), ".yml": ("YAML", _yaml),
}


def _kind(path: str) -> tuple[str, Callable[[str], str | None]] | None:
    name = PurePosixPath(path).name
    return None if _JSONC.match(name) else _CHECKS.get(PurePosixPath(name).suffix.lower())


def checked(path: str) -> bool:
    """Whether files at `path` are of a kind that is checked."""
    return _kind(path) is not None


def syntax_problem(path: str, text: str) -> tuple[str, str] | None:
    """(language, "line N: what is wrong") for a file of a checked kind that does not parse,
    else None (other kinds, JSON with comments, files too large to check)."""
    kind = _kind(path)
    if kind is None or len(text) > MAX_CHECKED_CHARACTERS:
        return None
    language, check = kind
    try:
        problem = check(text)
    except (RecursionError, MemoryError, ValueError):  # too deeply nested to judge, or NUL bytes
        return None
    return (language, problem) if problem else None


def syntax_warning(path: str, text: str) -> str:
    """The words appended to an edit's result when the file no longer parses, else ""."""
    found = syntax_problem(path, text)
    if found is None:
        return ""
    language, problem = found
    return (f"\n\nWarning: {path} does not parse as {language} ({problem}). The edit was kept; "
            "fix the file unless this is intended.")
