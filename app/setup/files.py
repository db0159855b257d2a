"""Writing what `orca setup` learns: the private key file and `.env`, both owner-only.

Both files are written whole to a temporary file in the same folder, then renamed into
place, so a crash never leaves half a key or half a `.env`, and neither is ever readable
by other users, not even for a moment.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

OWNER_ONLY = 0o600
# `KEY=...` or `export KEY=...`, as python-dotenv (and so Orca's settings) reads them.
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")
# Values made only of these need no quotes in a .env file.
_BARE = re.compile(r"^[A-Za-z0-9_./:@+,-]*$")


def write_secret(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600, atomically."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:  # mkstemp creates it 0600 already
            handle.write(text)
        os.chmod(temporary, OWNER_ONLY)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def env_line(key: str, value: str) -> str:
    """`KEY=value`, double-quoted (with escapes) when the value needs it."""
    if _BARE.match(value):
        return f"{key}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{key}="{escaped}"'


def _entries(text: str) -> Iterator[tuple[str | None, str]]:
    """(key or None, raw text) for each assignment, comment or blank line of a .env file.

    A quoted value may run over several lines (a PEM often does): those lines belong to
    their assignment, so replacing or dropping the key takes all of them.
    """
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        start, match = index, _ASSIGNMENT.match(lines[index])
        rest = lines[index][match.end():].lstrip() if match else ""
        if rest[:1] in ("'", '"') and not _closed(rest[1:], rest[0]):
            while index + 1 < len(lines) and not _closed(lines[index + 1], rest[0]):
                index += 1
            index += 1
        index += 1
        yield (match.group(1) if match else None), "\n".join(lines[start:index])


def _closed(text: str, quote: str) -> bool:
    """True when `text` holds an unescaped closing `quote`."""
    return re.search(rf"(?<!\\){quote}", text) is not None


def merged_env(existing: str, values: Mapping[str, str], drop: Iterable[str] = ()) -> str:
    """`existing` .env text with `values` set and `drop` keys removed; other lines kept.

    A key already present is replaced where it stands (every occurrence after the first
    is removed, so the new value is the one that counts); new keys go at the end.
    """
    dropped, written, kept = set(drop), set(), []
    for key, raw in _entries(existing):
        if key in dropped or key in written:
            continue
        if key in values:
            raw = env_line(key, values[key])
            written.add(key)
        kept.append(raw)
    kept.extend(env_line(key, value) for key, value in values.items() if key not in written)
    return "\n".join(kept) + "\n"


def env_keys(path: Path) -> set[str]:
    """The keys a .env file assigns (none if it does not exist)."""
    text = path.read_text() if path.exists() else ""
    return {key for key, _ in _entries(text) if key is not None}


def merge_env_file(path: Path, values: Mapping[str, str], drop: Iterable[str] = ()) -> None:
    """Merge `values` into the .env file at `path` (created if missing), mode 0600."""
    existing = path.read_text() if path.exists() else ""
    write_secret(path, merged_env(existing, values, drop))
