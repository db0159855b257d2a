"""A pull request's diff, read from git objects in Orca's mirror, and the lines GitHub takes
review comments on.

GitHub shows a pull request as the diff from the merge base of its base branch to its head,
with three lines of context, and accepts an inline comment only on a line of those hunks:
on the RIGHT side an added or context line (by its number in the new file), on the LEFT a
deleted or context line (by its number in the old one). Anything else and the whole review is
refused with 422 (FACTS-next, "Reviews"), so each finding's line is checked here first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from core.git import git, succeeds

_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_FILE = re.compile(r"^diff --git ")
# A diff over this is not shown whole to the model: about 15,000 tokens of patch, which leaves
# the review's dollars for reading the code around it. What is left out is named.
DIFF_CAP = 60_000
# One file's patch past this is cut (a generated file, a vendored library).
FILE_CAP = 20_000


@dataclass
class FileDiff:
    """One file's part of the diff."""

    path: str
    """The file's path after the change (before it, for a deleted file)."""
    text: str
    right: set[int] = field(default_factory=set)
    """New-file lines a comment may be on: added or context."""
    left: set[int] = field(default_factory=set)
    """Old-file lines a comment may be on: deleted or context."""
    added: int = 0
    deleted: int = 0
    status: str = "M"
    """git's letter: A added, D deleted, M anything else."""

    def takes(self, side: str, first: int, last: int) -> bool:
        """Whether GitHub takes a comment on lines first..last of `side`."""
        lines = self.right if side == "RIGHT" else self.left
        return first <= last and all(n in lines for n in range(first, last + 1))


def _env(mirror: Path) -> dict[str, str]:
    return {"GIT_DIR": str(mirror)}


def merge_base(mirror: Path, base: str, head: str) -> str:
    return git("merge-base", base, head, cwd=mirror, env=_env(mirror)).strip()


def is_ancestor(mirror: Path, older: str, newer: str) -> bool:
    """Whether `older` is a commit of the mirror and an ancestor of `newer` (not after a
    force-push that dropped it)."""
    return (succeeds("cat-file", "-e", f"{older}^{{commit}}", cwd=mirror, env=_env(mirror))
            and succeeds("merge-base", "--is-ancestor", older, newer, cwd=mirror, env=_env(mirror)))


def diff_files(mirror: Path, old: str, new: str) -> list[FileDiff]:
    """The diff from commit `old` to `new`, file by file: objects only, no external diff or
    text conversion, renames found as GitHub finds them."""
    # Paths as they are (`é.py`, not `"\303\251.py"`), as GitHub names them in reviews.
    text = git("-c", "core.quotePath=false", "diff", "--no-ext-diff", "--no-textconv",
               "--no-color", "-M", "-U3", old, new, "--", cwd=mirror, env=_env(mirror), lossy=True)
    return parse(text)


def parse(text: str) -> list[FileDiff]:
    """`git diff` output, split per file, with the lines each file takes comments on."""
    files: list[FileDiff] = []
    for chunk in _chunks(text):
        files.append(_file(chunk))
    return files


def _chunks(text: str) -> list[list[str]]:
    chunks: list[list[str]] = []
    for line in text.splitlines():
        if _FILE.match(line) or not chunks:
            chunks.append([])
        chunks[-1].append(line)
    return [c for c in chunks if c and _FILE.match(c[0])]


def _file(lines: list[str]) -> FileDiff:
    old_path = new_path = ""
    found = FileDiff(path="", text="\n".join(lines))
    old = new = 0
    in_hunk = False
    for line in lines:
        if not in_hunk and line.startswith(("new file mode", "deleted file mode")):
            found.status = "A" if line.startswith("new") else "D"
        elif not in_hunk and line.startswith("--- "):
            old_path = line[6:] if line.startswith("--- a/") else ""
        elif not in_hunk and line.startswith("+++ "):
            new_path = line[6:] if line.startswith("+++ b/") else ""
        elif hunk := _HUNK.match(line):
            old, new, in_hunk = int(hunk[1]), int(hunk[2]), True
        elif in_hunk and line.startswith("+"):
            found.right.add(new)
            found.added, new = found.added + 1, new + 1
        elif in_hunk and line.startswith("-"):
            found.left.add(old)
            found.deleted, old = found.deleted + 1, old + 1
        elif in_hunk and line.startswith(" "):
            found.right.add(new)
            found.left.add(old)
            old, new = old + 1, new + 1
    found.path = new_path or old_path or _path_from_header(lines[0])
    return found


def _path_from_header(header: str) -> str:
    """`diff --git a/x b/x` → x, for a file with no hunks (a mode change, a binary file)."""
    parts = header.split(" b/", 1)
    return parts[1] if len(parts) == 2 else header


def fit(files: list[FileDiff], cap: int = DIFF_CAP, file_cap: int = FILE_CAP) -> tuple[str, list[str]]:
    """The patch to show, at most `cap` characters, and the paths left out of it (or cut)."""
    shown, left_out, size = [], [], 0
    for item in files:
        text = item.text
        if len(text) > file_cap:
            text = text[:file_cap] + f"\n[this file's diff is cut at {file_cap:,} of {len(item.text):,} characters]"
            left_out.append(f"{item.path} (cut at {file_cap:,} of {len(item.text):,} characters)")
        if size + len(text) > cap:
            left_out.append(item.path)
            continue
        shown.append(text)
        size += len(text)
    return "\n".join(shown), left_out
