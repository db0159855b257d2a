import copy

import pytest

from core.triggers import PayloadError, Trigger, trigger_for
from tests import payloads

LABEL = "agent"


def labeled(label=LABEL, sender_type="User", login="octocat", state="open"):
    payload = payloads.issues_labeled(
        base_url="http://127.0.0.1:9", installation_id=7,
        repo={"full_name": "octo-org/hello", "id": 42, "default_branch": "main"},
        sender_login=login, sender_type=sender_type, sender_id=99,
        issue={"number": 5, "title": "Fix it", "body": "please"}, label=label,
    )
    payload["issue"]["state"] = state
    return payload


def test_label_becomes_a_trigger_with_ids_and_the_signed_words():
    payload = labeled()
    trigger = trigger_for("issues", payload, label=LABEL)
    assert trigger == Trigger(kind="label", installation_id=7, repository="octo-org/hello",
                              repository_id=42, number=5, requester="octocat", requester_id=99,
                              title="Fix it", body="please", at=payload["issue"]["updated_at"])
    assert Trigger.from_dict({**trigger.to_dict(), "status": "queued"}) == trigger
    assert trigger.starts_run


def test_the_plan_label_asks_for_a_plan():
    trigger = trigger_for("issues", labeled(label=f"{LABEL}:plan"), label=LABEL)
    assert trigger.kind == "plan" and trigger.starts_run and trigger.number == 5
    assert trigger_for("issues", labeled(label="other:plan"), label=LABEL) is None


@pytest.mark.parametrize("event, payload", [
    ("issues", labeled(label="bug")),
    ("issues", labeled(sender_type="Bot", login="dependabot[bot]")),
    ("issues", labeled(login="orca-test[bot]")),
    ("issues", labeled(state="closed")),
    ("issues", {**labeled(), "action": "opened"}),
    ("push", labeled()),
    ("ping", {"zen": "Keep it logically awesome."}),
])
def test_not_a_trigger(event, payload):
    assert trigger_for(event, payload, label=LABEL) is None


@pytest.mark.parametrize("mutate", [
    lambda p: p.pop("installation"),
    lambda p: p["installation"].update(id="7"),
    lambda p: p["installation"].update(id=True),
    lambda p: p["issue"].update(number=None),
    lambda p: p.update(sender="octocat"),
    lambda p: p["label"].pop("name"),
])
def test_malformed_payload_is_a_payload_error(mutate):
    payload = copy.deepcopy(labeled())
    mutate(payload)
    with pytest.raises(PayloadError):
        trigger_for("issues", payload, label=LABEL)


def test_non_object_payload():
    with pytest.raises(PayloadError):
        trigger_for("issues", ["not", "an", "object"], label=LABEL)


REPO = {"full_name": "octo-org/hello", "id": 42, "default_branch": "main"}


def commented(body, on_pull_request=False, sender_type="User", login="octocat"):
    return payloads.issue_comment_created(
        on_pull_request=on_pull_request, base_url="http://127.0.0.1:9", installation_id=7,
        repo=REPO, sender_login=login, sender_id=99, sender_type=sender_type,
        issue={"number": 5, "title": "Fix it", "body": "please"},
        comment={"id": 77, "body": body, "user": login})


@pytest.mark.parametrize("body, kind, request_, push", [
    ("/agent rename greet to hello", "command", "rename greet to hello", False),
    ("Thanks!\n/agent add a test\nfor the empty case", "command", "add a test\nfor the empty case", False),
    ("/agent stop", "stop", "", False),
    ("/agent stop push", "stop", "", True),
    ("/agent stop and push.", "stop", "", True),
    ("/agent stop using globals in db.py", "command", "stop using globals in db.py", False),
    ("/agent retry", "retry", "", False),
    ("/agent help", "help", "", False),
    ("/agent", "help", "", False),
    ("/agent frobnicate", "help", "frobnicate", False),
    ("/agent review", "pr_review", "", False),
    ("/agent review the locking, mostly", "pr_review", "the locking, mostly", False),
    ("/agent fix", "help", "fix", False),  # only in a thread of Orca's review
    ("/agent plan", "plan", "", False),
    ("/agent plan keep the API stable", "plan", "keep the API stable", False),
    ("/agent go\ndrop 2", "go", "drop 2", False),
])
def test_agent_commands_in_comments(body, kind, request_, push):
    trigger = trigger_for("issue_comment", commented(body), label=LABEL)
    assert (trigger.kind, trigger.request, trigger.push) == (kind, request_, push)
    assert (trigger.comment_id, trigger.number, trigger.is_pull_request) == (77, 5, False)
    assert trigger.starts_run == (kind in ("command", "pr_review", "plan"))


def test_command_on_a_pull_request_targets_the_pull():
    trigger = trigger_for("issue_comment", commented("/agent fix lint", on_pull_request=True),
                          label=LABEL)
    assert (trigger.kind, trigger.is_pull_request, trigger.target) == ("command", True, "octo-org/hello#5")


@pytest.mark.parametrize("body", [
    "please /agent fix it",            # not at the start of a line
    "/agents fix it",                  # not the whole word
    "> /agent fix it",                 # quoting someone
    "```\n/agent fix it\n```",          # an example in a code block
    "no command here",
    "",
])
def test_not_a_command(body):
    assert trigger_for("issue_comment", commented(body), label=LABEL) is None


def test_commands_from_bots_are_ignored():
    payload = commented("/agent fix it", sender_type="Bot", login="orca-test[bot]")
    assert trigger_for("issue_comment", payload, label=LABEL) is None


def reviewed(state="changes_requested", head="agent/issue-5-fix-it", pr_user_type="Bot",
             sender_type="User"):
    payload = payloads.pull_request_review_submitted(
        base_url="http://127.0.0.1:9", installation_id=7, repo=REPO, sender_login="octocat",
        sender_id=99, sender_type=sender_type,
        issue={"number": 6, "title": "Fix it", "body": "Fixes #5", "head": head, "base": "main"},
        review={"id": 555, "body": "A few things", "state": state, "user": "octocat"})
    payload["pull_request"]["user"]["type"] = pr_user_type
    return payload


def test_review_on_an_agent_pull_request_is_a_review_run():
    trigger = trigger_for("pull_request_review", reviewed(), label=LABEL)
    assert (trigger.kind, trigger.review_id, trigger.number, trigger.request) == (
        "review", 555, 6, "A few things")
    assert trigger.is_pull_request and trigger.starts_run


@pytest.mark.parametrize("payload", [
    reviewed(state="approved"),
    reviewed(state="dismissed"),
    reviewed(head="feature/login"),
    reviewed(pr_user_type="User"),
    reviewed(sender_type="Bot"),
])
def test_reviews_that_ask_nothing_of_orca(payload):
    assert trigger_for("pull_request_review", payload, label=LABEL) is None


def test_removing_the_label_or_closing_cancels():
    unlabeled = payloads.build("issues", "unlabeled", base_url="http://127.0.0.1:9",
                               installation_id=7, repo=REPO, sender_id=99,
                               issue={"number": 5}, label=LABEL)
    closed_issue = payloads.build("issues", "closed", base_url="http://127.0.0.1:9",
                                  installation_id=7, repo=REPO, sender_id=99, issue={"number": 5})
    closed_pull = payloads.build("pull_request", "closed", base_url="http://127.0.0.1:9",
                                 installation_id=7, repo=REPO, sender_id=99, issue={"number": 6})
    for event, payload in [("issues", unlabeled), ("issues", closed_issue), ("pull_request", closed_pull)]:
        assert payloads.validate(event, payload) == []
        trigger = trigger_for(event, payload, label=LABEL)
        assert trigger.kind == "cancel" and not trigger.starts_run
        assert "@octocat" in trigger.request
    pulled = trigger_for("pull_request", closed_pull, label=LABEL)
    assert (pulled.at, pulled.merged) == (closed_pull["pull_request"]["closed_at"], False)
    closed_pull["pull_request"].update(merged=True, merged_at=pulled.at)
    assert trigger_for("pull_request", closed_pull, label=LABEL).merged is True
    assert trigger_for("issues", closed_issue, label=LABEL).merged is False
    other = payloads.build("issues", "unlabeled", base_url="http://127.0.0.1:9", installation_id=7,
                           repo=REPO, issue={"number": 5}, label="bug")
    assert trigger_for("issues", other, label=LABEL) is None


def test_reopening_a_pull_request_starts_nothing_and_carries_when():
    """Whoever reopens it (a bot too): the fast job marks Orca's pull request open again."""
    reopened = payloads.build("pull_request", "reopened", base_url="http://127.0.0.1:9",
                              installation_id=7, repo=REPO, sender_id=99, issue={"number": 6})
    assert payloads.validate("pull_request", reopened) == []
    trigger = trigger_for("pull_request", reopened, label=LABEL)
    assert trigger.kind == "reopened" and not trigger.starts_run and trigger.is_pull_request
    assert (trigger.number, trigger.at) == (6, reopened["pull_request"]["updated_at"])
    reopened["sender"].update(type="Bot", login="ci[bot]")
    assert trigger_for("pull_request", reopened, label=LABEL).kind == "reopened"


def diff_commented(body, head="feature/login", pr_user_type="User"):
    payload = payloads.pull_request_review_comment_created(
        base_url="http://127.0.0.1:9", installation_id=7, repo=REPO, sender_login="octocat",
        sender_id=99, issue={"number": 6, "title": "Login", "body": "", "head": head, "base": "main"},
        comment={"id": 88, "body": body, "user": "octocat", "path": "app.py", "line": 3,
                 "diff_hunk": "@@ -1,3 +1,3 @@\n a\n b\n-c\n+d"})
    payload["pull_request"]["user"]["type"] = pr_user_type
    assert payloads.validate("pull_request_review_comment", payload) == []
    return payload


def test_command_on_a_line_of_the_diff_carries_the_line():
    trigger = trigger_for("pull_request_review_comment", diff_commented("/agent rename c to d"),
                          label=LABEL)
    assert (trigger.kind, trigger.comment_id, trigger.on_diff, trigger.number) == ("command", 88, True, 6)
    assert trigger.request.startswith("rename c to d\n\n(Written on `app.py` line 3 of the diff:)")
    assert "+d" in trigger.request
    stop = trigger_for("pull_request_review_comment", diff_commented("/agent stop"), label=LABEL)
    assert (stop.kind, stop.on_diff) == ("stop", True)


@pytest.mark.parametrize("payload", [
    diff_commented("just a remark"),
    diff_commented("/agent fix", head="agent/issue-5-x", pr_user_type="Bot"),  # the review covers it
])
def test_diff_comments_that_are_not_commands_here(payload):
    assert trigger_for("pull_request_review_comment", payload, label=LABEL) is None


def test_fix_in_a_review_thread_is_a_command_on_that_thread():
    payload = diff_commented("/agent fix")
    payload["comment"]["in_reply_to_id"] = 4242
    trigger = trigger_for("pull_request_review_comment", payload, label=LABEL)
    assert (trigger.kind, trigger.thread_id, trigger.on_diff) == ("command", 4242, True)
    assert trigger.request.startswith("Make the change Orca's review comment in this thread asks for.")
    alone = trigger_for("pull_request_review_comment", diff_commented("/agent fix"), label=LABEL)
    assert (alone.kind, alone.thread_id) == ("help", None)  # not a reply: no thread to fix


def pull_event(action="opened", sender="octocat", sender_type="User", author_type="User"):
    payload = payloads.build(
        "pull_request", action, base_url="http://127.0.0.1:9", installation_id=7, repo=REPO,
        sender_login=sender, sender_id=99, sender_type=sender_type,
        issue={"number": 6, "title": "Login", "body": None, "head": "feature/login",
               "base": "main", "head_sha": "a" * 40, "user": {"login": "alice", "id": 31,
                                                              "type": author_type}})
    # The vendored schema has no ready_for_review (synthesised from opened, see tests/payloads).
    assert action == "ready_for_review" or payloads.validate("pull_request", payload) == []
    return payload


@pytest.mark.parametrize("action", ["opened", "ready_for_review", "synchronize"])
def test_pull_request_activity_is_for_its_author(action):
    payload = pull_event(action)
    trigger = trigger_for("pull_request", payload, label=LABEL)
    assert (trigger.kind, trigger.auto, trigger.request, trigger.head_sha) == (
        "pull_activity", True, action, "a" * 40)
    assert (trigger.requester, trigger.requester_id, trigger.number) == ("alice", 31, 6)
    assert trigger.at == payload["pull_request"]["updated_at"] and not trigger.starts_run


@pytest.mark.parametrize("payload", [
    pull_event(sender="dependabot[bot]", sender_type="Bot"),
    pull_event(author_type="Bot"),
    pull_event("labeled"),
])
def test_pull_request_activity_that_reviews_nothing(payload):
    assert trigger_for("pull_request", payload, label=LABEL) is None
