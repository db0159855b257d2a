"""The text editor tool (`text_editor_20250728`, `str_replace_based_edit_tool`), on sandbox paths.

Behaviour follows Anthropic's tool description and reference implementation, which the models are
trained on: `view` prints `cat -n` output or a two-level directory listing, `create` makes a new
file and refuses an existing one (the trained description says so, and it keeps the model from
clobbering a file it never read), `str_replace` needs exactly one verbatim match, `insert` adds
text after a line (0 = at the top); after an edit, a file that no longer parses gets a warning
(jobs.agent.syntax). Differences from the reference, on purpose: tabs are not
expanded (Makefiles need them) and there is no `undo_edit` (that tool version has none).
The editor works on host paths from `Sandbox.host_path`, so it can never leave the worktree.
"""

from __future__ import annotations

import os
from pathlib import Path

from jobs.agent.syntax import checked, syntax_warning
from jobs.sandbox import Sandbox, SandboxPathError

COMMANDS = ("view", "create", "str_replace", "insert")
MAX_FILE_BYTES = 4 * 1024 * 1024
"""Largest file the editor reads or writes; bigger files are data, better handled with bash."""
SNIPPET_LINES = 4  # lines of context either side of an edit, as in the reference implementation
CLIPPED_NOTE = (
    "\n<response clipped><NOTE>To save on context only part of this file has been shown to you. "
    "Use `view_range` to see other lines, or `grep -n` in the bash tool to find the line numbers "
    "of what you are looking for.</NOTE>"
)


class EditorError(Exception):
    """A mistake in the model's request; the message goes back to the model as an error."""


class Editor:
    """Runs editor commands against files under the sandbox root."""

    def __init__(self, sandbox: Sandbox, max_characters: int = 20000) -> None:
        self.sandbox = sandbox
        self.max_characters = max_characters

    def run(self, tool_input: dict) -> str:
        """Performs one command and returns the text for the model; raises EditorError."""
        command = tool_input.get("command")
        if command not in COMMANDS:
            raise EditorError(
                f"Unknown command {command!r}. Valid commands are: {', '.join(COMMANDS)}."
            )
        path = _required(tool_input, "path", str)
        host = self._host(path)
        if command == "view":
            return self.view(path, host, tool_input.get("view_range"))
        done = self._change(command, path, host, tool_input)
        if not checked(path):
            return done
        # The file as just written (UTF-8, at most MAX_FILE_BYTES), read back for the check.
        return done + syntax_warning(path, host.read_bytes().decode("utf-8", errors="replace"))

    def _change(self, command: str, path: str, host: Path, tool_input: dict) -> str:
        """create, str_replace or insert; the text for the model."""
        if command == "create":
            return create(path, host, _required(tool_input, "file_text", str))
        if command == "str_replace":
            new_str = tool_input.get("new_str")
            if new_str is None:
                new_str = ""  # the tool's schema makes new_str optional: delete old_str
            if not isinstance(new_str, str):
                raise EditorError("Parameter `new_str` must be a string.")
            return str_replace(path, host, _required(tool_input, "old_str", str), new_str)
        text = tool_input.get("insert_text", tool_input.get("new_str"))
        if not isinstance(text, str):
            raise EditorError("Parameter `insert_text` is required for command: insert")
        return insert(path, host, _required(tool_input, "insert_line", int), text)

    def _host(self, path: str) -> Path:
        try:
            return self.sandbox.host_path(path)
        except SandboxPathError as error:
            raise EditorError(str(error)) from None

    def view(self, path: str, host: Path, view_range: object) -> str:
        """A file as `cat -n` output (optionally a line range), or a directory listing."""
        if host.is_dir():
            if view_range is not None:
                raise EditorError("The `view_range` parameter is not allowed for a directory.")
            return self._clip(_list_directory(path, host))
        lines = _read(path, host).splitlines()
        start, end = _check_range(view_range, len(lines))
        numbered = enumerate(lines[start - 1 : end], start)
        shown = "\n".join(f"{number:6}\t{line}" for number, line in numbered)
        return self._clip(f"Here's the result of running `cat -n` on {path}:\n{shown}\n")

    def _clip(self, text: str) -> str:
        """Cuts text to max_characters at a line boundary, with a note saying how to see more."""
        if len(text) <= self.max_characters:
            return text
        cut = text[: self.max_characters]
        if "\n" in cut:
            cut = cut[: cut.rindex("\n") + 1]
        return cut + CLIPPED_NOTE


def _required(tool_input: dict, name: str, kind: type) -> object:
    value = tool_input.get(name)
    # bool is an int subclass; `insert_line: true` is a mistake, not line 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise EditorError(f"Parameter `{name}` is required and must be a {kind.__name__}.")
    return value


def _check_range(view_range: object, n_lines: int) -> tuple[int, int]:
    """Validates view_range [start, end] (end -1 = to the end) and returns 1-based bounds."""
    if view_range is None:
        return 1, n_lines
    if (
        not isinstance(view_range, list)
        or len(view_range) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in view_range)
    ):
        raise EditorError("Invalid `view_range`. It should be a list of two integers.")
    start, end = view_range
    if not 1 <= start <= max(n_lines, 1):
        raise EditorError(
            f"Invalid `view_range`: {view_range}. Its first element `{start}` should be within "
            f"the range of lines of the file: [1, {n_lines}]"
        )
    if end == -1:
        return start, n_lines
    if end < start or end > n_lines:
        raise EditorError(
            f"Invalid `view_range`: {view_range}. Its second element `{end}` should be -1, or "
            f"between the first element `{start}` and the number of lines ({n_lines})."
        )
    return start, end


def _list_directory(path: str, host: Path) -> str:
    """Files and directories up to 2 levels deep, hidden ones excluded (like the reference's
    `find PATH -maxdepth 2 -not -path '*/.*'`)."""
    shown = path.rstrip("/") or "/"
    entries = [shown]
    for child in _visible_entries(host):
        entries.append(f"{shown}/{child.name}")
        if child.is_dir(follow_symlinks=False):
            grandchildren = _visible_entries(Path(child.path))
            entries += [f"{shown}/{child.name}/{grand.name}" for grand in grandchildren]
    listing = "\n".join(entries)
    return (
        f"Here's the files and directories up to 2 levels deep in {path}, "
        f"excluding hidden items:\n{listing}\n"
    )


def _visible_entries(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError:
        return []  # unreadable subdirectory: list what we can, as find does


def _read(path: str, host: Path) -> str:
    """The file's text; refuses missing, huge, binary and non-UTF-8 files with a clear reason."""
    if not host.exists():
        raise EditorError(f"The path {path} does not exist. Please provide a valid path.")
    if not host.is_file():
        raise EditorError(f"The path {path} is not a regular file.")
    size = host.stat().st_size
    if size > MAX_FILE_BYTES:
        raise EditorError(
            f"{path} is {size} bytes, over the editor's {MAX_FILE_BYTES}-byte limit; "
            "use the bash tool (head, grep, sed -n) to work with it."
        )
    data = host.read_bytes()
    if b"\0" in data[:8192]:
        raise EditorError(f"{path} is a binary file; the editor only handles text.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise EditorError(f"{path} is not UTF-8 text; the editor only handles UTF-8.") from None


def _write(path: str, host: Path, text: str) -> None:
    data = text.encode("utf-8")
    if len(data) > MAX_FILE_BYTES:
        raise EditorError(f"The new content of {path} would exceed {MAX_FILE_BYTES} bytes.")
    host.write_bytes(data)


def _snippet(path: str, text: str, first: int, last: int) -> str:
    """Numbered lines first..last (0-based) of text, widened by SNIPPET_LINES either side."""
    lines = text.split("\n")
    start = max(0, first - SNIPPET_LINES)
    end = min(len(lines), last + SNIPPET_LINES + 1)
    numbered = "\n".join(f"{n:6}\t{line}" for n, line in enumerate(lines[start:end], start + 1))
    return f"Here's the result of running `cat -n` on a snippet of {path}:\n{numbered}\n"


def create(path: str, host: Path, file_text: str) -> str:
    """Creates a new file (and its parent directories); an existing path is refused."""
    if host.exists() or host.is_symlink():
        raise EditorError(
            f"File already exists at: {path}. Cannot overwrite files using command `create`; "
            "use `str_replace` to edit it."
        )
    host.parent.mkdir(parents=True, exist_ok=True)
    _write(path, host, file_text)
    return f"File created successfully at: {path}"


def str_replace(path: str, host: Path, old_str: str, new_str: str) -> str:
    """Replaces the one verbatim occurrence of old_str; zero or several are refused."""
    text = _read(path, host)
    if not old_str:
        raise EditorError("Parameter `old_str` must not be empty.")
    starts = _occurrences(text, old_str)
    if not starts:
        raise EditorError(
            f"No replacement was performed, old_str `{old_str}` did not appear verbatim in {path}."
        )
    if len(starts) > 1:
        lines = [text.count("\n", 0, start) + 1 for start in starts]
        raise EditorError(
            f"No replacement was performed. Multiple occurrences of old_str `{old_str}` in lines "
            f"{lines}. Please ensure it is unique."
        )
    new_text = text.replace(old_str, new_str, 1)
    _write(path, host, new_text)
    first = text.count("\n", 0, starts[0])
    snippet = _snippet(path, new_text, first, first + new_str.count("\n"))
    return (
        f"The file {path} has been edited. {snippet}"
        "Review the changes and make sure they are as expected. Edit the file again if necessary."
    )


def _occurrences(text: str, needle: str) -> list[int]:
    """Start offsets of non-overlapping occurrences (the ones str.replace would see)."""
    starts, at = [], text.find(needle)
    while at != -1:
        starts.append(at)
        at = text.find(needle, at + len(needle))
    return starts


def insert(path: str, host: Path, insert_line: int, text: str) -> str:
    """Inserts text after line insert_line (0 = before the first line)."""
    lines = _read(path, host).splitlines(keepends=True)
    if not 0 <= insert_line <= len(lines):
        raise EditorError(
            f"Invalid `insert_line` parameter: {insert_line}. It should be within the range of "
            f"lines of the file: [0, {len(lines)}]"
        )
    if lines and not lines[-1].endswith("\n") and insert_line == len(lines):
        lines[-1] += "\n"  # appending after an unterminated last line must not join the two
    block = text if text.endswith("\n") else text + "\n"
    new_text = "".join(lines[:insert_line]) + block + "".join(lines[insert_line:])
    _write(path, host, new_text)
    snippet = _snippet(path, new_text, insert_line, insert_line + block.count("\n") - 1)
    return (
        f"The file {path} has been edited. {snippet}"
        "Review the changes and make sure they are as expected (correct indentation, no "
        "duplicate lines, etc). Edit the file again if necessary."
    )
