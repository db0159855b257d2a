"""The agent's harness through whole runs: cut output kept aside, stop reasons in the comment."""

from __future__ import annotations

import subprocess
import tempfile

from tests.e2e.conftest import comments_on, labeled_payload, make_scene, pulls
from tests.fakes.model import Reply, looks_right, reply, text, tool_use


def tool_results(request) -> list[str]:
    return [b["content"] for b in request["messages"][-1]["content"] if b["type"] == "tool_result"]


def changed_files(github, scene, branch: str) -> list[str]:
    names = subprocess.run(["git", "--git-dir", str(github.git_dir(scene.full_name)), "diff",
                            "--name-only", "main", branch], capture_output=True, text=True,
                           check=True).stdout
    return names.split()


def test_a_cut_output_is_kept_for_later_commands_and_never_published(orca, tmp_path, monkeypatch):
    host_tmp = tmp_path / "host-tmp"
    host_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(host_tmp))
    scene = make_scene(orca.github)
    orca.model.script(
        reply(tool_use("bash", {"command": "seq 1 100000"})),
        reply(tool_use("bash", {"command": "wc -l /orca-scratch/output-1.txt; ls /orca-scratch; "
                                           "echo notes > NOTES.md"})),
        reply(text("Added notes.")),
        reply(text("Checked the diff; added notes.")),
        looks_right(),
    )
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    assert orca.model.remaining == 0 and orca.model.violations == []
    [cut] = tool_results(orca.model.requests[1])
    assert "characters cut ...]" in cut and "are in /orca-scratch/output-1.txt" in cut
    [read] = tool_results(orca.model.requests[2])
    assert read == "100000 /orca-scratch/output-1.txt\noutput-1.txt"
    [pull] = pulls(orca.github)
    assert changed_files(orca.github, scene, pull.pull.head_ref) == ["NOTES.md"]
    assert list(host_tmp.glob("orca-scratch-*")) == []  # removed when the session ended


def test_a_refusal_ends_the_run_with_a_draft_saying_so(orca):
    scene = make_scene(orca.github)
    orca.model.script(reply(tool_use("bash", {"command": "echo one > one.txt"})),
                      reply(text("I won't continue."), stop_reason="refusal"))
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    [pull] = pulls(orca.github)
    assert pull.pull.draft is True
    assert "stopped by the model declining to go on (stop reason `refusal`)" in pull.body
    assert "I won't continue" not in pull.body
    found, _ = comments_on(orca.github, scene)
    assert found[0].body.startswith(
        "⏸️ Stopped by the model declining to go on (stop reason `refusal`)")


def test_an_unknown_stop_reason_fails_the_run_with_a_comment(orca, monkeypatch):
    # Orca's default: the SDK does not check answers against its types, so a stop reason newer
    # than the SDK reaches the loop, which must not take it for a finished answer.
    monkeypatch.setenv("ORCA_STRICT_MODEL_RESPONSES", "false")
    scene = make_scene(orca.github)
    orca.model.script(reply(tool_use("bash", {"command": "echo one > one.txt"})),
                      Reply([text("All done!")], stop_reason="brand_new_reason"))
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    assert pulls(orca.github) == []
    found, _ = comments_on(orca.github, scene)
    assert found[0].body.startswith(
        "❌ Orca's run failed: the model stopped for a reason Orca does not know (stop reason "
        "`brand_new_reason`)")
    assert "/agent retry" in found[0].body
