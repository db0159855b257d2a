"""The daily dollar budget per installation: past it, new runs are refused with a comment."""

from __future__ import annotations

import time

import pytest

from core import ledger as accounting
from core.runs import RunStore
from tests.e2e.conftest import (
    HELLO_FILES,
    Scene,
    comments_on,
    labeled_payload,
    make_scene,
)
from tests.e2e.conversation_scenes import drain_fast
from tests.fakes.model import reply, text, tool_use

# At the default model's $3 per million input tokens, one turn of this costs $1.50 (plus the
# few cents of the rest of the prompt): past a $1 daily budget, well under the run's own $10.
COSTLY = {"input_tokens": 500_000}


@pytest.fixture
def budget(monkeypatch):
    monkeypatch.setenv("ORCA_DAILY_DOLLARS", "1")


def script_costly_look(model) -> None:
    """A run that crosses the budget on its first turn, then finishes without changes."""
    model.script(reply(tool_use("bash", {"command": "cat hello.py"}), usage=COSTLY),
                 reply(text("The greeting needs no change.")))


def second_issue(orca, scene: Scene) -> Scene:
    number = orca.github.add_issue(scene.full_name, "Another task", "Do more.", "octocat",
                                   labels=["agent"])
    return Scene(scene.installation_id, scene.repo, number, scene.requester)


def other_installation(orca) -> Scene:
    installation_id = orca.github.add_installation("other-org")
    repo = orca.github.add_repo("other-org/world", installation_id, private=True, files=HELLO_FILES)
    orca.github.set_permission("other-org/world", "octocat", "write")
    number = orca.github.add_issue("other-org/world", "Fix the greeting typo", "helo", "octocat",
                                   labels=["agent"])
    return Scene(installation_id, repo, number, orca.github.add_user("octocat"))


def assert_refusal(body: str, spent: float) -> None:
    midnight = accounting.next_midnight(time.time())
    assert body.startswith("💸 @octocat Orca did not start this run")
    assert f"spent ${spent:.2f} of its $1.00 daily budget" in body
    assert f"{midnight:%Y-%m-%d} 00:00 UTC" in body and "`/agent retry`" in body


def test_past_the_daily_budget_a_new_run_is_refused_with_a_comment(orca, budget):
    scene = make_scene(orca.github)
    script_costly_look(orca.model)
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    # The run that crossed the budget was not stopped by it: both turns ran, and it reported.
    assert len(orca.model.requests) == 2
    spent = accounting.totals(orca.redis, scene.installation_id, accounting.day_of(time.time()))
    assert spent.runs == 1 and spent.dollars > 1.5
    assert spent.input_tokens == sum(u["input_tokens"] for u in orca.model.usage_log)
    assert spent.output_tokens == sum(u["output_tokens"] for u in orca.model.usage_log)

    status, answer = orca.deliver("issues", labeled_payload(orca.github, scene))
    assert status == 202
    orca.drain()
    found, _ = comments_on(orca.github, scene)
    assert found[0].body.startswith("🤷")
    assert len(found) == 2
    assert_refusal(found[1].body, spent.dollars)
    assert len(orca.model.requests) == 2  # no model call for the refused run
    record = RunStore(orca.redis).get(answer["run"])
    assert record["status"] == "rejected" and "daily budget" in record["reason"]
    assert "tracking_comment_id" not in record
    assert accounting.totals(orca.redis, scene.installation_id, spent.day).refused == 1
    assert orca.github.violations == []


def test_a_queued_run_is_refused_when_its_turn_comes(orca, budget):
    first = make_scene(orca.github)
    second = second_issue(orca, first)
    script_costly_look(orca.model)
    _, answer_1 = orca.deliver("issues", labeled_payload(orca.github, first))
    _, answer_2 = orca.deliver("issues", labeled_payload(orca.github, second))
    drain_fast(orca)  # both acknowledged while the budget was still whole
    orca.drain()
    assert len(orca.model.requests) == 2  # the first run's turns only
    [tracking] = comments_on(orca.github, second)[0]
    spent = accounting.totals(orca.redis, first.installation_id, accounting.day_of(time.time()))
    assert_refusal(tracking.body, spent.dollars)
    assert RunStore(orca.redis).get(answer_1["run"])["status"] == "done"
    record = RunStore(orca.redis).get(answer_2["run"])
    assert record["status"] == "rejected" and "daily budget" in record["reason"]
    assert record["tracking_comment_id"] == tracking.id and "started_at" not in record


def test_another_installation_is_not_affected(orca, budget):
    spender, other = make_scene(orca.github), other_installation(orca)
    script_costly_look(orca.model)
    orca.deliver("issues", labeled_payload(orca.github, spender))
    orca.drain()
    orca.model.script(reply(text("Nothing to change here.")))
    _, answer = orca.deliver("issues", labeled_payload(orca.github, other))
    orca.drain()
    assert len(orca.model.requests) == 3
    [tracking] = comments_on(orca.github, other)[0]
    assert tracking.body.startswith("🤷")
    assert RunStore(orca.redis).get(answer["run"])["status"] == "done"
    day = accounting.day_of(time.time())
    assert accounting.totals(orca.redis, other.installation_id, day).dollars < 0.1
    assert accounting.totals(orca.redis, spender.installation_id, day).dollars > 1.5
