"""Automatic reviews from the base branch's `.github/orca.yml` (#17): on opened, ready for
review and pushes; drafts, paths and authors honoured; one per push, a few per hour."""

from __future__ import annotations

import pytest

from jobs.steer import auto_review
from tests.e2e.conversation_scenes import bodies
from tests.e2e.review_scenes import FILES, pull_event, pull_to_review, reviews_by_orca
from tests.fakes.model import reply, text


def config(review: str) -> dict[str, str]:
    return {**FILES, ".github/orca.yml": f"review: {review}\n"}


def test_an_opened_pull_request_is_reviewed_when_the_config_says_so(orca):
    github = orca.github
    rs = pull_to_review(github, files=config("{auto: true}"))
    orca.model.script(reply(text("Nothing to add.")))
    status, answer = pull_event(orca, rs, "opened")
    assert status == 202, answer
    orca.drain()

    [review] = reviews_by_orca(github)
    assert (review.state, review.commit_id) == ("COMMENTED", rs.head)
    assert "No findings." in review.body and "Tests: Orca ran none" in review.body
    [final] = bodies(github, rs.full_name, rs.number)  # the tracking comment, edited
    assert final.startswith(f"🔎 Orca reviewed `{rs.head[:7]}`: no findings.")  # no one asked
    assert "@" not in final.split("[The review]")[0]
    [posted] = github.calls_to("POST", r"/issues/\d+/comments$")
    assert posted.body["body"].startswith("🔎 Orca is reviewing this pull request, as `.github/orca.yml` asks.")
    prompt = orca.model.requests[0]["messages"][0]["content"][0]["text"]
    assert "automatically, as the repository's config asks" in prompt
    # The same head again (marked ready, or a redelivered body under a new action): no second.
    pull_event(orca, rs, "ready_for_review")
    orca.drain()
    assert len(reviews_by_orca(github)) == 1 and orca.model.remaining == 0
    assert github.violations == []


@pytest.mark.parametrize("review, draft, why", [
    ("{auto: false}", False, "off"),
    ("{auto: true}", True, "draft"),
    ("{auto: true, paths: ['src/**', 'docs/*']}", False, "paths"),
])
def test_no_automatic_review_when_the_config_says_not(orca, review, draft, why):
    github = orca.github
    rs = pull_to_review(github, files=config(review), draft=draft)
    status, _ = pull_event(orca, rs, "opened")
    assert status == 202
    orca.drain()
    assert reviews_by_orca(github) == [] and orca.model.requests == [], why
    assert len(bodies(github, rs.full_name, rs.number)) == 0  # and nothing said


def test_paths_that_match_and_a_draft_made_ready_are_reviewed(orca):
    github = orca.github
    rs = pull_to_review(github, files=config("{auto: true, paths: ['*.py']}"), draft=True)
    pull_event(orca, rs, "opened")
    orca.drain()
    assert reviews_by_orca(github) == []
    github.state.issues[(rs.scene.repo["id"], rs.number)].pull.draft = False
    orca.model.script(reply(text("Fine.")))
    pull_event(orca, rs, "ready_for_review")
    orca.drain()
    assert len(reviews_by_orca(github)) == 1


def test_strangers_pull_requests_need_authors_everyone_and_a_daily_budget(orca, monkeypatch):
    github = orca.github
    rs = pull_to_review(github, fork=True, files=config("{auto: true, authors: everyone}"))
    # alice has no write access; without a daily budget, `everyone` is not honoured.
    pull_event(orca, rs, "opened")
    orca.drain()
    assert reviews_by_orca(github) == [] and orca.model.requests == []

    monkeypatch.setenv("ORCA_DAILY_DOLLARS", "5")
    monkeypatch.setattr(auto_review, "MAX_PER_HOUR", 2)
    for push in range(4):
        github.push_commit("alice/hello", "feature/add-all", {"notes.txt": f"push {push}\n"})
        orca.model.script(reply(text("Fine.")))
        pull_event(orca, rs, "synchronize")
        orca.drain()
    # The opened event's head was claimed though not reviewed; two pushes fit the hour.
    assert len(reviews_by_orca(github)) == 2
    assert orca.model.remaining == 2  # the last two pushes reached no model
    assert github.violations == []


def test_writers_config_does_not_review_a_strangers_pull_request(orca):
    github = orca.github
    rs = pull_to_review(github, fork=True, files=config("{auto: true}"))
    pull_event(orca, rs, "opened")
    orca.drain()
    assert reviews_by_orca(github) == [] and orca.model.requests == []


def test_a_bots_push_starts_nothing(orca):
    github = orca.github
    rs = pull_to_review(github, files=config("{auto: true}"))
    status, answer = pull_event(orca, rs, "synchronize", sender="dependabot[bot]")
    assert status == 200 and "ignored" in str(answer)
