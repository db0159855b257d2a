"""Whether a Python repository uses pytest, from its files' text: where pytest is configured and
where it is named as a dependency. Pure; each reader takes a file's text and never raises."""

from __future__ import annotations

import configparser
import re
import tomllib
from collections.abc import Iterable
from typing import Any

# A requirement's name at the start of a requirement string ("pytest>=8", "pytest-cov[toml]",
# "pytest ; python_version>'3'"). A plugin named (pytest-cov, pytest-xdist) installs pytest too.
_REQUIREMENT = re.compile(r"^\s*(pytest(?:[-_.][A-Za-z0-9][A-Za-z0-9._-]*)?)\s*(?:$|[\[<>=!~;@ ])",
                          re.IGNORECASE)
# Quoted requirement strings in setup.py (`tests_require=["pytest"]`): read as text, never run.
_QUOTED = re.compile(r"""["'](pytest(?:[-_.][A-Za-z0-9._-]+)?)\s*(?:[\[<>=!~;][^"'\n]*)?["']""",
                     re.IGNORECASE)
# pyproject.toml's tables that hold dependency lists (PEP 621, PEP 735, and the tools').
_CFG_KEYS = ("install_requires", "tests_require", "deps")
_DEPENDENCY_TABLES = ("project", "dependency-groups", "tool.poetry", "tool.pdm", "tool.uv",
                      "tool.hatch")


def names_pytest(requirement: str) -> bool:
    """Whether one requirement string names pytest or one of its plugins."""
    return _REQUIREMENT.match(requirement) is not None


def requirements_name_pytest(text: str) -> bool:
    """A requirements file (`requirements-dev.txt`): one requirement per line."""
    return any(names_pytest(line.split("#", 1)[0]) for line in text.splitlines())


def setup_py_names_pytest(text: str) -> bool:
    return _QUOTED.search(text) is not None


def pyproject(text: str) -> dict[str, Any]:
    """The parsed pyproject.toml, or {} when it is not TOML."""
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError):
        return {}


def pyproject_configures_pytest(data: dict[str, Any]) -> str | None:
    """The pytest table pyproject.toml has (`[tool.pytest.ini_options]`), or None."""
    pytest_table = _table(data, "tool.pytest")
    if pytest_table is None:
        return None
    return "[tool.pytest.ini_options]" if "ini_options" in pytest_table else "[tool.pytest]"


def pyproject_names_pytest(data: dict[str, Any]) -> bool:
    """Whether a dependency list in pyproject.toml names pytest: PEP 621's dependencies and
    optional-dependencies, PEP 735's groups, Poetry's, PDM's, uv's and Hatch's."""
    for name in _DEPENDENCY_TABLES:
        table = _table(data, name)
        if table is not None and any(names_pytest(item) for item in _requirements(table)):
            return True
    return False


def cfg_configures_pytest(text: str, section: str) -> bool:
    """setup.cfg's `[tool:pytest]` or tox.ini's `[pytest]`."""
    return section in _sections(text)


def cfg_names_pytest(text: str) -> bool:
    """setup.cfg's install_requires, extras_require and tests_require, or tox.ini's deps."""
    parser = _parser(text)
    if parser is None:
        return False
    for section in parser.sections():
        for key, value in parser.items(section, raw=True):
            listed = key in _CFG_KEYS or section == "options.extras_require"
            if listed and requirements_name_pytest(value):
                return True
    return False


def pipfile_names_pytest(data: dict[str, Any]) -> bool:
    return any(isinstance(data.get(table), dict) and any(names_pytest(k) for k in data[table])
               for table in ("packages", "dev-packages"))


def _table(data: dict[str, Any], dotted: str) -> dict[str, Any] | None:
    for part in dotted.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else None


def _requirements(node: Any, depth: int = 0) -> Iterable[str]:
    """Every requirement-like string below `node`: list items, and the keys of the tables
    Poetry names dependencies with (`pytest = "^8"`)."""
    if depth > 6:
        return
    if isinstance(node, list):
        yield from (item for item in node if isinstance(item, str))
    elif isinstance(node, dict):
        for key, value in node.items():
            poetry_style = (not isinstance(value, (list, dict))
                            or isinstance(value, dict) and ("version" in value or "path" in value))
            if isinstance(key, str) and poetry_style:
                yield key
            yield from _requirements(value, depth + 1)


def _parser(text: str) -> configparser.RawConfigParser | None:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    return parser


def _sections(text: str) -> list[str]:
    parser = _parser(text)
    return parser.sections() if parser is not None else []
