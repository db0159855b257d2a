"""The fake's GraphQL endpoint: review threads as Orca asks for them, and nothing else."""

from __future__ import annotations

import pytest
import requests
from github.GithubException import GithubException

from jobs.task.threads import THREADS_QUERY
from tests.fakes.github import FakeGitHub
from tests.fakes.test_fake_github import REPO, _client, _mint_token


@pytest.fixture
def pull(fake_github: FakeGitHub) -> tuple[FakeGitHub, int, int]:
    installation_id = fake_github.add_installation("octo-org")
    fake_github.add_repo(REPO, installation_id, {"a.py": "one\ntwo\nthree\nfour\nfive\n"}, private=True)
    fake_github.push_commit(REPO, "agent/x", {"b.py": "b\n"}, start="main")
    number = fake_github.add_pull(REPO, "agent/x", "main", "T", "", fake_github.bot_login)
    return fake_github, installation_id, number


def test_threads_with_state_replies_and_hunks(pull):
    fake, installation_id, number = pull
    root = fake.add_review_comment(REPO, number, "Why?", "alice", "a.py", 5)["id"]
    fake.reply_review_comment(root, "Because.", fake.bot_login)
    other = fake.add_review_comment(REPO, number, "Done?", "alice", "a.py", 1)["id"]
    fake.resolve_thread(other)
    fake.edit_review_comment(root, "Why, really?")

    client = _client(fake, installation_id)
    _, data = client.requester.graphql_query(THREADS_QUERY, {"owner": "octo-org", "name": "hello",
                                                              "number": number})
    first, second = data["data"]["repository"]["pullRequest"]["reviewThreads"]["nodes"]
    assert (first["isResolved"], first["path"], first["line"]) == (False, "a.py", 5)
    comments = first["comments"]["nodes"]
    assert [c["body"] for c in comments] == ["Why, really?", "Because."]
    assert comments[0]["lastEditedAt"] and comments[1]["lastEditedAt"] is None
    assert comments[1]["author"] == {"__typename": "Bot", "login": "orca-test"}
    assert comments[0]["diffHunk"] == "@@ -2,4 +2,4 @@\n two\n three\n four\n five"
    assert second["isResolved"] is True
    assert fake.violations == []


def test_unknown_fields_and_other_repositories_are_errors(pull):
    fake, installation_id, number = pull
    token = _mint_token(fake, installation_id)
    url = f"{fake.base_url}/api/graphql"
    typo = THREADS_QUERY.replace("isOutdated", "isOutdate")
    answer = requests.post(url, json={"query": typo, "variables": {
        "owner": "octo-org", "name": "hello", "number": number}},
        headers={"Authorization": f"token {token}"}, timeout=10)
    assert answer.status_code == 200 and "isOutdate" in answer.json()["errors"][0]["message"]
    assert fake.violations and "isOutdate" in fake.violations[0]
    fake.violations.clear()

    client = _client(fake, installation_id)
    with pytest.raises(GithubException) as raised:
        client.requester.graphql_query(THREADS_QUERY, {"owner": "octo-org", "name": "nope",
                                                       "number": number})
    assert raised.value.status == 404
    assert requests.post(url, json={"query": THREADS_QUERY}, timeout=10).status_code == 401
