"""The editor and bash tools as the model sees them, on a real bubblewrap sandbox."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from jobs.agent.editor import MAX_FILE_BYTES
from jobs.agent.tools import Toolbox, tool_definitions
from jobs.sandbox import Limits, Scratch, make_sandbox
from jobs.sandbox.user import SANDBOX_GID

EDIT = "str_replace_based_edit_tool"
APP = "/workspace/app.py"


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    path = tmp_path / "worktree"
    path.mkdir()
    (path / "app.py").write_text("def f():\n    return 1\n\n\ndef g():\n    return 1\n")
    return path


@pytest.fixture
def tools(worktree: Path) -> Toolbox:
    return Toolbox(make_sandbox(worktree), command_timeout=10, max_output=400, max_characters=400)


def edit(tools: Toolbox, **tool_input):
    return tools.run(EDIT, tool_input)


def test_tool_definitions():
    assert tool_definitions(1234) == [
        {"type": "text_editor_20250728", "name": EDIT, "max_characters": 1234},
        {"type": "bash_20250124", "name": "bash"},
    ]


def test_view_numbers_lines_like_cat_n(tools):
    result = edit(tools, command="view", path="/workspace/app.py")
    assert not result.is_error
    assert result.content == (
        "Here's the result of running `cat -n` on /workspace/app.py:\n"
        "     1\tdef f():\n     2\t    return 1\n     3\t\n     4\t\n"
        "     5\tdef g():\n     6\t    return 1\n"
    )


def test_view_range(tools):
    result = edit(tools, command="view", path="/workspace/app.py", view_range=[5, -1])
    assert result.content.endswith("     5\tdef g():\n     6\t    return 1\n")
    assert "     4\t" not in result.content
    result = edit(tools, command="view", path="/workspace/app.py", view_range=[2, 2])
    assert result.content.endswith(":\n     2\t    return 1\n")
    for bad in ([0, 2], [3, 2], [1, 7], [1], "1-2"):
        result = edit(tools, command="view", path="/workspace/app.py", view_range=bad)
        assert result.is_error and "view_range" in result.content


def test_view_clips_long_files(tools, worktree):
    (worktree / "long.txt").write_text("".join(f"line {n}\n" for n in range(1, 500)))
    result = edit(tools, command="view", path="/workspace/long.txt")
    assert not result.is_error
    assert "     1\tline 1\n" in result.content and "line 499" not in result.content
    assert "<response clipped>" in result.content and "view_range" in result.content
    assert len(result.content) < 400 + 300


def test_view_directory_two_levels_without_hidden(tools, worktree):
    (worktree / ".git").mkdir()
    (worktree / ".env").write_text("x")
    (worktree / "src" / "pkg" / "deep").mkdir(parents=True)
    (worktree / "src" / "pkg" / "deep" / "too_deep.py").write_text("")
    (worktree / "src" / ".hidden").write_text("")
    (worktree / "src" / "main.py").write_text("")
    result = edit(tools, command="view", path="/workspace")
    lines = result.content.splitlines()
    assert lines[0].startswith("Here's the files and directories up to 2 levels deep")
    assert lines[1:] == [
        "/workspace", "/workspace/app.py", "/workspace/src",
        "/workspace/src/main.py", "/workspace/src/pkg",
    ]


def test_create_makes_parents_and_refuses_existing(tools, worktree):
    result = edit(tools, command="create", path="/workspace/new/dir/x.txt", file_text="hi\n")
    assert result.content == "File created successfully at: /workspace/new/dir/x.txt"
    assert (worktree / "new" / "dir" / "x.txt").read_text() == "hi\n"
    result = edit(tools, command="create", path="/workspace/app.py", file_text="gone")
    assert result.is_error and "already exists" in result.content
    assert (worktree / "app.py").read_text().startswith("def f()")


def test_str_replace_unique(tools, worktree):
    result = edit(tools, command="str_replace", path="/workspace/app.py",
                  old_str="def g():\n    return 1", new_str="def g():\n    return 2")
    assert not result.is_error
    assert (worktree / "app.py").read_text().endswith("def g():\n    return 2\n")
    assert "     5\tdef g():\n     6\t    return 2\n" in result.content
    assert result.content.startswith("The file /workspace/app.py has been edited.")


def test_str_replace_refuses_zero_and_several_matches(tools, worktree):
    before = (worktree / "app.py").read_text()
    result = edit(tools, command="str_replace", path=APP, old_str="nope", new_str="x")
    assert result.is_error and "did not appear verbatim" in result.content
    result = edit(tools, command="str_replace", path="/workspace/app.py",
                  old_str="return 1", new_str="return 3")
    assert result.is_error and "Multiple occurrences" in result.content
    assert "in lines [2, 6]" in result.content
    assert (worktree / "app.py").read_text() == before


def test_str_replace_without_new_str_deletes(tools, worktree):
    result = edit(tools, command="str_replace", path=APP, old_str="\n\ndef g():\n    return 1")
    assert not result.is_error
    assert (worktree / "app.py").read_text() == "def f():\n    return 1\n\n"


@pytest.mark.parametrize("key", ["insert_text", "new_str"])
def test_insert_accepts_insert_text_or_new_str(tools, worktree, key):
    result = edit(tools, command="insert", path=APP, insert_line=0, **{key: "# top"})
    assert not result.is_error and "     1\t# top\n" in result.content
    edit(tools, command="insert", path="/workspace/app.py", insert_line=7, **{key: "# end\n"})
    text = (worktree / "app.py").read_text()
    assert text.startswith("# top\ndef f():\n") and text.endswith("    return 1\n# end\n")


def test_insert_out_of_range(tools, worktree):
    for line in (-1, 7, "2", True):
        result = edit(tools, command="insert", path=APP, insert_line=line, insert_text="x")
        assert result.is_error and "insert_line" in result.content


def test_paths_must_be_absolute_and_inside_root(tools, worktree, tmp_path):
    (tmp_path / "secret.txt").write_text("top secret")
    (worktree / "link").symlink_to(tmp_path)
    result = edit(tools, command="view", path="app.py")
    assert result.is_error and "absolute path under /workspace" in result.content
    for path in ("/workspace/../secret.txt", "/workspace/link/secret.txt", "/etc/passwd"):
        result = edit(tools, command="view", path=path)
        assert result.is_error and "top secret" not in result.content
        result = edit(tools, command="create", path=path + "2", file_text="x")
        assert result.is_error
    assert not (tmp_path / "secret.txt2").exists()


def test_binary_huge_missing_and_unknown(tools, worktree):
    (worktree / "blob.bin").write_bytes(b"\x00\x01\x02")
    (worktree / "huge.txt").write_bytes(b"a" * (MAX_FILE_BYTES + 1))
    assert "binary" in edit(tools, command="view", path="/workspace/blob.bin").content
    assert "limit" in edit(tools, command="view", path="/workspace/huge.txt").content
    assert "does not exist" in edit(tools, command="view", path="/workspace/nope").content
    result = edit(tools, command="undo_edit", path="/workspace/app.py")
    assert result.is_error and "view, create, str_replace, insert" in result.content
    assert tools.run("python", {"code": "1"}).is_error
    assert tools.run(EDIT, "view").is_error
    assert edit(tools, command="create", path="/workspace/x").is_error  # no file_text


def test_bash_runs_in_workspace_and_reports_exit_codes(tools):
    assert tools.run("bash", {"command": "pwd; ls"}).content == "/workspace\napp.py"
    result = tools.run("bash", {"command": "echo oops >&2; exit 4"})
    assert result.content == "oops\n[exit code: 4]" and not result.is_error
    assert tools.run("bash", {"command": "true"}).content == "(no output)"
    assert tools.run("bash", {"restart": True}).content == "tool has been restarted."
    assert tools.run("bash", {}).is_error


def test_bash_keeps_head_and_tail(tools):
    result = tools.run("bash", {"command": "echo FIRST; seq 1 5000; echo LAST"})
    assert result.content.startswith("FIRST\n") and result.content.endswith("LAST")
    assert "characters cut ...]" in result.content and len(result.content) < 500


def test_bash_timeout_names_the_limit_and_what_to_do(worktree):
    tools = Toolbox(make_sandbox(worktree), command_timeout=0.5)
    result = tools.run("bash", {"command": "echo partial; sleep 30"})
    assert result.content == (
        "partial\n[command timed out after 0.5 s and was killed. Every command has this limit, "
        "and what it leaves running in the background is killed with it: split the work into "
        "shorter commands or make it faster (run only the relevant tests, stop at the first "
        "failure)]")


def test_bash_names_a_bound_the_command_ran_into_and_counts_it(worktree):
    tools = Toolbox(make_sandbox(worktree, limits=Limits(tmp_bytes=1024**2)), command_timeout=10)
    for _ in range(2):
        result = tools.run("bash", {"command": "head -c 2M /dev/zero > /tmp/fill; echo tried"})
        assert not result.is_error
        assert result.content.endswith(
            "tried\n[/tmp is full: it holds 1 MiB (ORCA_SANDBOX_TMP_SIZE), and every command "
            "starts with an empty one]")
    assert tools.run("bash", {"command": "true"}).content == "(no output)"
    assert tools.bounds_hit == {"/tmp full (1 MiB)": 2}


def test_an_edit_that_breaks_python_is_kept_with_a_warning_naming_the_line(tools, worktree):
    result = edit(tools, command="str_replace", path=APP, old_str="def g():", new_str="def g(:")
    assert not result.is_error and "def g(:" in (worktree / "app.py").read_text()
    assert result.content.endswith(
        "\n\nWarning: /workspace/app.py does not parse as Python (line 5: invalid syntax). "
        "The edit was kept; fix the file unless this is intended.")
    fixed = edit(tools, command="str_replace", path=APP, old_str="def g(:", new_str="def g():")
    assert "Warning" not in fixed.content


@pytest.mark.parametrize(("name", "text", "line"), [
    ("data.json", '{"a": 1,\n "b": }\n', "line 2"),
    ("pyproject.toml", '[project]\nname = "x"\nversion = \n', "line 3"),
    ("ci.yml", "on: push\njobs:\n  - a\n  b: c\n", "line 4"),
    ("stub.pyi", "def f(x: int) -> int: ...\nclass\n", "line 2"),
])
def test_created_json_toml_yaml_and_stubs_are_checked(tools, name, text, line):
    result = edit(tools, command="create", path=f"/workspace/{name}", file_text=text)
    assert not result.is_error and result.content.startswith("File created successfully")
    assert "does not parse as" in result.content and f"({line}: " in result.content


@pytest.mark.parametrize(("name", "text"), [
    ("tsconfig.json", '{\n  // comments are allowed here\n  "strict": true\n}\n'),
    ("template.yaml", "Resources:\n  B:\n    Value: !Ref Other\n"),
    ("notes.txt", "def (:\n"),
    ("ok.py", "x = '\\d'\n"),  # an invalid escape warns at runtime; it is not a syntax error
])
def test_what_is_not_checked_or_parses_gets_no_warning(tools, name, text):
    result = edit(tools, command="create", path=f"/workspace/{name}", file_text=text)
    assert result.content == f"File created successfully at: /workspace/{name}"


def test_an_insert_that_breaks_indentation_is_reported(tools):
    result = edit(tools, command="insert", path=APP, insert_line=1, insert_text="  oops = 1")
    assert "does not parse as Python (line 3: unexpected indent)" in result.content


@pytest.fixture
def scratch():
    made = Scratch()
    yield made
    made.remove()


def test_a_cut_output_is_kept_whole_outside_the_worktree_for_later_commands(worktree, scratch):
    tools = Toolbox(make_sandbox(worktree, scratch=scratch), command_timeout=10, max_output=400)
    assert tools.run("bash", {"command": "echo short"}).content == "short"
    result = tools.run("bash", {"command": "seq 1 100000"})
    size = len("".join(f"{n}\n" for n in range(1, 100001)))
    assert "characters cut ...]" in result.content
    assert result.content.endswith(
        f"[output cut in the middle; all {size:,} bytes of it are in /orca-scratch/output-1.txt: "
        "read parts with `sed -n '200,300p' /orca-scratch/output-1.txt`, `tail -n 100 "
        "/orca-scratch/output-1.txt` or `grep -n PATTERN /orca-scratch/output-1.txt`]")
    host = scratch.path / "output-1.txt"
    assert host.read_text() == "".join(f"{n}\n" for n in range(1, 100001))
    # Orca's own, readable by the sandbox's user only (nobody's group when Orca is root).
    shared = os.geteuid() == 0
    for path, mode in ((scratch.path, 0o750 if shared else 0o700), (host, 0o640 if shared else 0o600)):
        info = path.stat()
        assert (stat.S_IMODE(info.st_mode), info.st_uid) == (mode, os.geteuid())
        assert info.st_gid == (SANDBOX_GID if shared else os.getegid())
    assert worktree not in host.parents and list(worktree.iterdir()) == [worktree / "app.py"]
    # A later command reads it in parts, and cannot change it.
    assert tools.run("bash", {"command": "sed -n '50000,50002p' /orca-scratch/output-1.txt"}
                     ).content == "50000\n50001\n50002"
    denied = tools.run("bash", {"command": "echo x > /orca-scratch/output-1.txt; "
                                           "touch /orca-scratch/new"})
    assert "Read-only file system" in denied.content and "exit code: 1" in denied.content
    assert host.stat().st_size == size and not (scratch.path / "new").exists()
    made = scratch.path
    scratch.remove()
    assert not made.exists()


def test_a_kept_output_holds_at_most_its_cap(worktree, scratch, monkeypatch):
    monkeypatch.setattr("jobs.sandbox.KEEP_BYTES", 1000)
    monkeypatch.setattr("jobs.agent.tools.KEEP_BYTES", 1000)
    tools = Toolbox(make_sandbox(worktree, scratch=scratch), command_timeout=10, max_output=400)
    result = tools.run("bash", {"command": "head -c 5000 /dev/zero | tr '\\0' a"})
    assert "its first 1,000 of 5,000 bytes are in /orca-scratch/output-1.txt" in result.content
    assert (scratch.path / "output-1.txt").read_bytes() == b"a" * 1000


def test_without_a_scratch_or_a_cut_nothing_is_kept(worktree, scratch):
    tools = Toolbox(make_sandbox(worktree), command_timeout=10, max_output=400)
    assert "/orca-scratch" not in tools.run("bash", {"command": "seq 1 100000"}).content
    tools = Toolbox(make_sandbox(worktree, scratch=scratch), command_timeout=10, max_output=400)
    tools.run("bash", {"command": "seq 1 10"})
    assert list(scratch.path.iterdir()) == []


def test_three_identical_calls_in_a_row_get_a_note(tools):
    notes = [tools.run("bash", {"command": "ls"}).content for _ in range(4)]
    assert [n.endswith("try a different approach.]") for n in notes] == [False, False, True, True]
    assert "the same call, with the same input, 3 times in a row" in notes[2]
    assert "4 times in a row" in notes[3]
    # Another call in between starts the count again.
    tools.run("bash", {"command": "pwd"})
    assert "in a row" not in tools.run("bash", {"command": "ls"}).content
    third = [edit(tools, command="view", path=APP) for _ in range(3)][-1]
    assert "3 times in a row" in third.content and not third.is_error


def test_without_a_sandbox_the_kept_output_is_named_by_its_host_path(worktree, scratch):
    tools = Toolbox(make_sandbox(worktree, "none", scratch=scratch), command_timeout=10,
                    max_output=400)
    result = tools.run("bash", {"command": "seq 1 10000"})
    assert f"are in {scratch.path}/output-1.txt:" in result.content
    assert tools.run("bash", {"command": f"tail -n 1 {scratch.path}/output-1.txt"}).content == "10000"
