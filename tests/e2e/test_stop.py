"""Stopping runs: `/agent stop` on a running run, the label removed, the PR closed."""

from __future__ import annotations

import time

from core.runs import RunStore
from tests import payloads
from tests.e2e.conftest import labeled_payload, make_scene, pulls
from tests.e2e.conversation_scenes import (
    BackgroundRuns,
    bodies,
    command,
    drain_fast,
    pull_scene,
    repo_spec,
    wait_for,
)
from tests.fakes.model import reply, text, tool_use


def script_slow_edit(model) -> None:
    """An edit, then a command that would run for a minute, then more work."""
    model.script(
        reply(tool_use("str_replace_based_edit_tool", {
            "command": "str_replace", "path": "/workspace/hello.py",
            "old_str": "'helo, world'", "new_str": "'hello, world'"})),
        reply(tool_use("bash", {"command": "sleep 60; echo slept"})),
        reply(text("Done.")), reply(text("Fixed.")),
    )


def sleeping(model) -> bool:
    return len(model.requests) >= 2


def test_agent_stop_kills_a_running_run_and_pushes_nothing(orca):
    github = orca.github
    scene = make_scene(github)
    script_slow_edit(orca.model)
    _status, answer = orca.deliver("issues", labeled_payload(github, scene))
    drain_fast(orca)
    runs = BackgroundRuns(orca).start()
    wait_for(lambda: sleeping(orca.model), what="the agent's `sleep 60`")
    time.sleep(0.3)  # the command is running in the sandbox now

    started = time.monotonic()
    _status, _answer, comment = command(orca, scene, scene.number, "/agent stop")
    drain_fast(orca)
    runs.join(timeout=30)
    assert time.monotonic() - started < 10, "the sandbox's sleep was not killed"

    store = RunStore(orca.redis)
    run = store.get(answer["run"])
    assert run["status"] == "cancelled" and "@octocat asked it to stop" in run["reason"]
    said = bodies(github, scene.full_name, scene.number)
    tracking = next(b for b in said if f"Run `{answer['run']}`" in b)
    assert tracking.startswith("🛑 Stopped: @octocat asked it to stop. Nothing was pushed.")
    assert any(b.startswith(f"🛑 @octocat Stopping run `{answer['run']}`") for b in said)
    assert [r.content for r in github.reactions_on(f"comment:{comment['id']}")] == ["eyes"]
    # Nothing half-done left the machine: no agent branch, no PR.
    assert not [b for b in github.state.repos if "agent/" in b]
    assert github.branch_sha(scene.full_name, f"agent/issue-{scene.number}-fix-the-greeting-typo") is None
    assert pulls(github) == []
    assert len(orca.model.requests) == 2  # the loop ended at the stop
    assert github.violations == []


def test_agent_stop_push_keeps_the_work_as_a_draft(orca):
    github = orca.github
    scene = make_scene(github)
    script_slow_edit(orca.model)
    orca.deliver("issues", labeled_payload(github, scene))
    drain_fast(orca)
    runs = BackgroundRuns(orca).start()
    wait_for(lambda: sleeping(orca.model), what="the agent's `sleep 60`")
    command(orca, scene, scene.number, "/agent stop push")
    drain_fast(orca)
    runs.join(timeout=30)

    [pull] = pulls(github)
    assert pull.pull.draft
    assert "hello, world" in github.read_file(scene.full_name, pull.pull.head_ref, "hello.py")
    assert any(b.startswith("⏸️ Stopped by a stop request") for b in bodies(github, scene.full_name, scene.number))


def test_removing_the_label_cancels_a_queued_run(orca):
    github = orca.github
    scene = make_scene(github)
    _status, answer = orca.deliver("issues", labeled_payload(github, scene))
    drain_fast(orca)  # acknowledged; the run itself waits in its queue
    unlabeled = payloads.build("issues", "unlabeled", base_url=github.base_url,
                               installation_id=scene.installation_id, repo=repo_spec(scene),
                               sender_id=scene.requester["id"], issue={"number": scene.number},
                               label="agent")
    assert payloads.validate("issues", unlabeled) == []
    status, _ = orca.deliver("issues", unlabeled)
    assert status == 202
    orca.drain()

    assert RunStore(orca.redis).get(answer["run"])["status"] == "cancelled"
    tracking = bodies(github, scene.full_name, scene.number)[-1]
    assert tracking.startswith("🛑 Stopped: the `agent` label was removed by @octocat. Nothing was pushed.")
    assert orca.model.requests == [] and pulls(github) == []
    assert github.violations == []


def test_closing_a_pull_request_cancels_its_running_run(orca):
    github = orca.github
    ps = pull_scene(github)
    script_slow_edit(orca.model)
    command(orca, ps.scene, ps.number, "/agent fix the typo", on_pull_request=True)
    drain_fast(orca)
    before = github.branch_sha(ps.full_name, ps.branch)
    runs = BackgroundRuns(orca).start()
    wait_for(lambda: sleeping(orca.model), what="the agent's `sleep 60`")
    closed = payloads.build("pull_request", "closed", base_url=github.base_url,
                            installation_id=ps.scene.installation_id, repo=repo_spec(ps.scene),
                            sender_id=ps.scene.requester["id"], issue={"number": ps.number})
    assert payloads.validate("pull_request", closed) == []
    orca.deliver("pull_request", closed)
    drain_fast(orca)
    runs.join(timeout=30)

    assert github.branch_sha(ps.full_name, ps.branch) == before
    last = bodies(github, ps.full_name, ps.number)[-1]
    assert last.startswith("🛑 Stopped: the pull request was closed by @octocat.")


def test_stop_with_nothing_running_says_so(orca):
    github = orca.github
    scene = make_scene(github)
    command(orca, scene, scene.number, "/agent stop")
    orca.drain()
    assert bodies(github, scene.full_name, scene.number)[-1] == (
        "@octocat Nothing is queued or running here, so there is nothing to stop.")


def test_agent_stop_during_a_slow_model_answer_ends_the_run_at_once(orca):
    """A stop while the model is thinking does not wait for its answer (which can take up to
    ORCA_MODEL_TIMEOUT): the request is abandoned and nothing is pushed."""
    github = orca.github
    scene = make_scene(github)
    answered = []

    def respond(body):
        if len(body["messages"]) == 1:
            return reply(tool_use("str_replace_based_edit_tool", {
                "command": "str_replace", "path": "/workspace/hello.py",
                "old_str": "'helo, world'", "new_str": "'hello, world'"}))
        time.sleep(20)  # a model that takes its time
        answered.append(True)
        return reply(text("Done."))

    orca.model.respond_with(respond)
    _status, answer = orca.deliver("issues", labeled_payload(github, scene))
    drain_fast(orca)
    runs = BackgroundRuns(orca).start()
    wait_for(lambda: len(orca.model.requests) >= 2, what="the second model request")
    started = time.monotonic()
    command(orca, scene, scene.number, "/agent stop")
    drain_fast(orca)
    runs.join(timeout=30)
    assert time.monotonic() - started < 8, "the run waited for the model's answer"
    assert answered == []
    run = RunStore(orca.redis).get(answer["run"])
    assert run["status"] == "cancelled" and "@octocat asked it to stop" in run["reason"]
    assert pulls(github) == []
