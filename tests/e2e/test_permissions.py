"""Who may start a run, end to end: only write, maintain and admin ever reach the model."""

from __future__ import annotations

import pytest

from core.runs import RunStore
from tests.e2e.conftest import labeled_payload, make_scene
from tests.e2e.conversation_scenes import bodies, command, comment_payload, drain_fast
from tests.fakes.model import reply, text
from tests.payload_parts import user

ALLOWED = {"write", "maintain", "admin"}


def script_nothing(model) -> None:
    model.script(reply(text("Nothing to change.")))


@pytest.mark.parametrize("role", ["none", "read", "triage", "write", "maintain", "admin"])
def test_label_by_each_role(orca, role):
    github = orca.github
    scene = make_scene(github, permission=role)
    script_nothing(orca.model)
    _status, answer = orca.deliver("issues", labeled_payload(github, scene))
    orca.drain()
    reached = bool(orca.model.requests)
    assert reached == (role in ALLOWED)
    status = RunStore(orca.redis).get(answer["run"])["status"]
    assert status == ("done" if role in ALLOWED else "rejected")
    if role not in ALLOWED:
        [said] = bodies(github, scene.full_name, scene.number)
        assert said.startswith("@octocat Orca only takes requests from people with write access")


@pytest.mark.parametrize("role", ["read", "write"])
def test_outside_collaborator_gets_their_role(orca, role):
    """An outside collaborator is not in the organisation; their repository role decides."""
    github = orca.github
    scene = make_scene(github)
    github.set_permission(scene.full_name, "outsider", role)
    script_nothing(orca.model)
    command(orca, scene, scene.number, "/agent fix the typo", sender="outsider")
    orca.drain()
    assert bool(orca.model.requests) == (role == "write")


@pytest.mark.parametrize("login", ["dependabot[bot]", "orca-test[bot]"])
def test_bots_and_orca_itself_start_nothing(orca, login):
    github = orca.github
    scene = make_scene(github)
    github.add_user(login, "Bot")
    payload = labeled_payload(github, scene)
    payload["sender"] = user(github.base_url, login, github.state.user(login).id, "Bot")
    status, answer = orca.deliver("issues", payload)
    assert status == 200 and "ignored" in answer
    comment = github.add_comment(scene.full_name, scene.number, "/agent fix it", login)
    bot_comment = comment_payload(github, scene, scene.number, comment, sender=login)
    bot_comment["sender"]["type"] = "Bot"
    status, answer = orca.deliver("issue_comment", bot_comment)
    assert status == 200 and "ignored" in answer
    orca.drain()
    assert orca.model.requests == []


def test_permission_revoked_between_trigger_and_run(orca):
    github = orca.github
    scene = make_scene(github)
    _status, answer = orca.deliver("issues", labeled_payload(github, scene))
    drain_fast(orca)  # acknowledged while octocat could still write
    github.set_permission(scene.full_name, "octocat", "read")
    orca.drain()
    assert orca.model.requests == []
    assert RunStore(orca.redis).get(answer["run"])["status"] == "rejected"
    [tracking] = bodies(github, scene.full_name, scene.number)
    assert tracking.startswith("@octocat Orca did not start this run: octocat has read access now")
