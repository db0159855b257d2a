"""How runs end when they cannot open a pull request: every one ends with words on the issue."""

from __future__ import annotations

import json

from rq import Queue

from core.queues import FAST_QUEUE, RUNS_QUEUE
from core.runs import RunStore
from jobs.run.endings import GENERIC_FAILURE
from tests import payloads
from tests.e2e.conftest import comments_on as issue_comments
from tests.e2e.conftest import labeled_payload, make_scene, pulls
from tests.fakes.model import looks_right, reply, text, tool_use


def test_bad_signature_is_401_and_nothing_is_queued(orca):
    scene = make_scene(orca.github)
    body = json.dumps(labeled_payload(orca.github, scene)).encode()
    import urllib.error
    import urllib.request
    headers = payloads.delivery_headers("issues", body, "not-the-secret")
    request = urllib.request.Request(f"{orca.url}/webhooks", data=body, headers=headers, method="POST")
    try:
        urllib.request.urlopen(request)
        status = 200
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert status == 401
    assert Queue(FAST_QUEUE, connection=orca.redis).count == 0
    # Only /metrics counts the refused delivery; no run, job or record appears.
    assert [k for k in orca.redis.keys("orca:*") if not k.startswith(b"orca:metrics:")] == []
    assert orca.github.calls == []


def test_read_only_requester_gets_a_reply_and_no_run(orca):
    scene = make_scene(orca.github, permission="read")
    status, answer = orca.deliver("issues", labeled_payload(orca.github, scene))
    assert status == 202
    orca.drain()
    found, issue = issue_comments(orca.github, scene)
    assert len(found) == 1
    assert "only takes requests from people with write access" in found[0].body
    assert "`read`" in found[0].body
    assert orca.github.reactions_on(f"issue:{issue.id}") == []
    assert orca.model.requests == []
    assert Queue(RUNS_QUEUE, connection=orca.redis).count == 0
    assert RunStore(orca.redis).get(answer["run"])["status"] == "rejected"
    assert orca.github.violations == []


def test_triage_counts_as_read_and_maintain_as_write(orca):
    scene = make_scene(orca.github, permission="triage")
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    assert orca.model.requests == []
    orca.github.set_permission(scene.full_name, "octocat", "maintain")
    orca.model.script(reply(text("Nothing to change.")))
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    assert len(orca.model.requests) == 1


def test_model_overloaded_on_every_attempt_fails_the_run_with_a_retry_hint(orca):
    scene = make_scene(orca.github)
    orca.model.fail_always(529)
    status, answer = orca.deliver("issues", labeled_payload(orca.github, scene))
    assert status == 202
    orca.drain()
    found, _ = issue_comments(orca.github, scene)
    assert len(found) == 1
    body = found[0].body
    assert body.startswith("❌ Orca's run failed: The model API answered 529")
    assert "comment `/agent retry`" in body
    assert pulls(orca.github) == []
    assert len(orca.model.requests) == 3  # the SDK's retries, then Orca gives up
    assert RunStore(orca.redis).get(answer["run"])["status"] == "failed"
    assert not list((orca.data_dir / "worktrees").iterdir())
    assert orca.github.violations == []


def test_no_changes_means_no_pull_request_and_says_so(orca):
    scene = make_scene(orca.github)
    orca.model.script(reply(tool_use("bash", {"command": "cat hello.py"})),
                      reply(text("The greeting is already correct; nothing to change.")))
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    found, _ = issue_comments(orca.github, scene)
    assert found[0].body.startswith("🤷 Orca finished without changing any files")
    assert "already correct" in found[0].body
    assert pulls(orca.github) == []


def test_workflow_changes_are_dropped_and_reported(orca):
    scene = make_scene(orca.github)
    orca.model.script(
        reply(tool_use("bash", {"command": "echo 'on: pull_request' > .github/workflows/ci.yml"
                                           " && echo hi > NOTES.md"})),
        reply(text("Added notes and tweaked CI.")),
        reply(text("Checked the diff: added notes and tweaked CI.")),
        looks_right(),
    )
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    [pull] = pulls(orca.github)
    branch = pull.pull.head_ref
    assert orca.github.read_file(scene.full_name, branch, "NOTES.md") == "hi\n"
    assert orca.github.read_file(scene.full_name, branch, ".github/workflows/ci.yml") == "on: push\n"
    assert "`.github/workflows/ci.yml`" in pull.body


def test_turn_limit_opens_a_draft_with_the_work_so_far(orca, monkeypatch):
    monkeypatch.setenv("ORCA_MAX_TURNS", "2")
    scene = make_scene(orca.github)
    orca.model.script(reply(tool_use("bash", {"command": "echo one > one.txt"})),
                      reply(tool_use("bash", {"command": "echo two > two.txt"})))
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    [pull] = pulls(orca.github)
    assert pull.pull.draft is True
    assert "stopped by the turn limit (2)" in pull.body
    found, _ = issue_comments(orca.github, scene)
    assert found[0].body.startswith("⏸️ Stopped by the turn limit (2)")
    assert orca.model.remaining == 0


def test_a_token_that_expires_mid_run_is_replaced_before_pushing(orca):
    """The first token dies while the agent works; push, PR and comment use a fresh one."""
    import threading
    import time

    scene = make_scene(orca.github)
    orca.model.script(
        reply(tool_use("bash", {"command": "echo notes > NOTES.md"}), delay=0.5),
        reply(text("Added notes.")),
        reply(text("Checked the diff; done.")),
        looks_right(),
    )

    def expire_when_the_model_is_first_asked():
        deadline = time.monotonic() + 30
        while not orca.model.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        orca.github.expire_tokens()

    watcher = threading.Thread(target=expire_when_the_model_is_first_asked)
    watcher.start()
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    watcher.join()
    [pull] = pulls(orca.github)
    assert orca.github.read_file(scene.full_name, pull.pull.head_ref, "NOTES.md") == "notes\n"
    found, _ = issue_comments(orca.github, scene)
    assert found[0].body.startswith("✅ Opened")
    # Some request was refused with the dead token before the fresh one took over? No:
    # Orca never used a token after it expired.
    assert not [c for c in orca.github.calls if c.status == 401]
    assert orca.github.violations == []


def test_an_unexpected_error_fails_the_run_once_and_rq_retry_does_not_run_it_again(orca):
    """RQ's Retry (there for dead workers) retries any failed job; a run that already
    failed and said so is not run a second time."""
    scene = make_scene(orca.github)
    # A content block the SDK's strict validation refuses: an error Orca has no name for.
    orca.model.script(reply({"type": "no_such_block"}), reply({"type": "no_such_block"}))
    status, answer = orca.deliver("issues", labeled_payload(orca.github, scene))
    assert status == 202
    orca.drain()
    found, _ = issue_comments(orca.github, scene)
    assert [c.body.split("\n")[0] for c in found] == [f"❌ Orca's run failed: {GENERIC_FAILURE}"]
    assert len(orca.model.requests) == 1
    assert orca.model.remaining == 1  # the retry asked nothing
    assert RunStore(orca.redis).get(answer["run"])["status"] == "failed"
