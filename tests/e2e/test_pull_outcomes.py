"""How Orca's pull requests end (#20): the run that opens one records it, and GitHub's signed
`pull_request` `closed` delivery records merged or closed unmerged, with the time. A pull
request Orca did not open records nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from core import keys, outcomes
from core.outcomes import State
from tests import payloads
from tests.e2e.conftest import labeled_payload, make_scene, pulls
from tests.e2e.conversation_scenes import drain_fast, pull_scene, repo_spec
from tests.e2e.test_label_to_pull_request import script_fix


def closed_payload(orca, scene, number: int, merged: bool) -> dict:
    """GitHub's example `pull_request.closed`, re-pointed at the scene's pull request."""
    payload = payloads.build("pull_request", "closed", base_url=orca.github.base_url,
                             installation_id=scene.installation_id, repo=repo_spec(scene),
                             sender_id=scene.requester["id"], issue={"number": number})
    pull = payload["pull_request"]
    if merged:
        pull.update(merged=True, merged_at=pull["closed_at"])
    assert payloads.validate("pull_request", payload) == []
    return payload


def close(orca, scene, number: int, merged: bool) -> float:
    """Deliver the closing signed, run the fast job; when the payload says it closed."""
    payload = closed_payload(orca, scene, number, merged)
    status, answer = orca.deliver("pull_request", payload)
    assert status == 202, answer
    drain_fast(orca)
    return datetime.fromisoformat(payload["pull_request"]["closed_at"]).timestamp()


def reopen(orca, scene, number: int, at: float) -> None:
    """Deliver GitHub's example `pull_request.reopened` for it, dated `at`; run the fast job."""
    payload = payloads.build("pull_request", "reopened", base_url=orca.github.base_url,
                             installation_id=scene.installation_id, repo=repo_spec(scene),
                             sender_id=scene.requester["id"], issue={"number": number})
    payload["pull_request"]["updated_at"] = datetime.fromtimestamp(at, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    assert payloads.validate("pull_request", payload) == []
    status, answer = orca.deliver("pull_request", payload)
    assert status == 202, answer
    drain_fast(orca)


def outcome_of(orca, scene, number: int) -> outcomes.Outcome | None:
    return outcomes.read(orca.redis, [(scene.full_name, number)]).get((scene.full_name, number))


def test_the_pull_request_a_run_opened_is_recorded_open_then_merged(orca):
    scene = make_scene(orca.github)
    script_fix(orca.model)
    before = time.time()
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    [pull] = pulls(orca.github)
    opened = outcome_of(orca, scene, pull.number)
    assert opened is not None and opened.state == State.OPEN and opened.closed_at is None
    assert opened.installation_id == scene.installation_id
    assert opened.run_id and before <= opened.opened_at <= time.time()
    assert orca.redis.ttl(keys.pull_outcome(scene.full_name, pull.number)) > 30 * 24 * 3600

    at = close(orca, scene, pull.number, merged=True)
    merged = outcome_of(orca, scene, pull.number)
    assert (merged.state, merged.closed_at, merged.run_id) == (State.MERGED, at, opened.run_id)


def test_orca_s_pull_request_closed_without_merging(orca):
    ps = pull_scene(orca.github, by_orca=True)
    outcomes.opened(orca.redis, ps.full_name, ps.number, "run0001", ps.scene.installation_id,
                    time.time())  # as the run that opened it does
    at = close(orca, ps.scene, ps.number, merged=False)
    found = outcome_of(orca, ps.scene, ps.number)
    assert (found.state, found.closed_at, found.run_id) == (State.CLOSED, at, "run0001")


def test_a_pull_request_orca_did_not_open_records_nothing(orca):
    ps = pull_scene(orca.github)  # a person's feature/greet
    close(orca, ps.scene, ps.number, merged=True)
    assert orca.redis.keys("orca:pull-outcome:*") == []
    assert orca.github.violations == []


def test_a_reopened_pull_request_is_open_again_unless_a_later_closing_came_first(orca):
    """Closed, then reopened: open again, with no closing time. A reopening delivered after a
    closing that GitHub dated later changes nothing (deliveries come in any order)."""
    scene = make_scene(orca.github)
    script_fix(orca.model)
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    [pull] = pulls(orca.github)
    closed_at = close(orca, scene, pull.number, merged=False)
    assert outcome_of(orca, scene, pull.number).state == State.CLOSED

    reopen(orca, scene, pull.number, at=closed_at - 60)  # older than the closing: too late
    assert outcome_of(orca, scene, pull.number).state == State.CLOSED

    reopen(orca, scene, pull.number, at=closed_at + 60)
    again = outcome_of(orca, scene, pull.number)
    assert (again.state, again.closed_at) == (State.OPEN, None)


def test_reopening_a_pull_request_orca_did_not_open_records_nothing(orca):
    scene = make_scene(orca.github)
    reopen(orca, scene, 77, at=time.time())
    assert outcome_of(orca, scene, 77) is None
