"""The fake GitHub, driven by the real PyGithub and the real git CLI.

These tests prove the fake is faithful enough to test Orca against: GitHub's own OpenAPI
description accepts everything it sends, and it refuses what GitHub would refuse.
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import github
import pytest
import requests
from github import Auth

from tests.fakes.github import FakeGitHub

REPO = "octo-org/hello"
FILES = {"README.md": "# hello\n", "src/app.py": "print('hi')\n"}


def _client(fake: FakeGitHub, installation_id: int,
            permissions: dict[str, str] | None = None) -> github.Github:
    """A PyGithub client acting as the installation, minting its token from the App JWT."""
    app_auth = Auth.AppAuth(fake.app_id, fake.private_key_pem)
    auth = app_auth.get_installation_auth(installation_id, permissions)
    return github.Github(base_url=fake.api_url, auth=auth, seconds_between_requests=None,
                         seconds_between_writes=None)


def _mint_token(fake: FakeGitHub, installation_id: int, **body: object) -> str:
    """An installation token from ``POST .../access_tokens`` with ``body``."""
    jwt = Auth.AppAuth(fake.app_id, fake.private_key_pem).create_jwt()
    response = requests.post(f"{fake.api_url}/app/installations/{installation_id}/access_tokens",
                             json=body, headers={"Authorization": f"Bearer {jwt}"}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["token"]


def _git(*args: str, cwd: Path | None = None, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real git CLI, passing the token per command as GitHub documents for Apps."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
    config = ["-c", "credential.helper=", "-c", "user.name=Orca", "-c", "user.email=orca@example.com"]
    if token is not None:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        config += ["-c", f"http.extraHeader=Authorization: Basic {basic}"]
    return subprocess.run(["git", *config, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def scene(fake_github: FakeGitHub) -> tuple[FakeGitHub, int]:
    """One installation on octo-org with a private repository and an issue by alice."""
    installation_id = fake_github.add_installation("octo-org")
    fake_github.add_repo(REPO, installation_id, FILES, private=True)
    fake_github.add_user("alice")
    fake_github.set_permission(REPO, "alice", "maintain")
    fake_github.add_issue(REPO, "Fix the greeting", "It says hi.", "alice", labels=("orca",))
    return fake_github, installation_id


def test_app_flow_through_pygithub_has_no_violations(scene: tuple[FakeGitHub, int]) -> None:
    fake, installation_id = scene
    integration = github.GithubIntegration(
        auth=Auth.AppAuth(fake.app_id, fake.private_key_pem), base_url=fake.api_url)
    assert integration.get_app().slug == "orca-test"
    assert integration.get_repo_installation("octo-org", "hello").id == installation_id
    gh = _client(fake, installation_id)
    repo = gh.get_repo(REPO)
    issue = repo.get_issue(1)
    assert (issue.title, [label.name for label in issue.labels]) == ("Fix the greeting", ["orca"])
    assert issue.create_reaction("eyes").content == "eyes"
    comment = issue.create_comment("On it.")
    comment.edit("Done.")
    assert repo.get_issue(1).get_comments()[0].body == "Done."
    assert repo.get_collaborator_permission("alice") == "write"  # maintain folds into write
    assert gh.get_user(fake.bot_login).id == fake.bot_user_id
    assert repo.get_contents("src/app.py").decoded_content == FILES["src/app.py"].encode()
    assert fake.violations == []
    assert [c.auth for c in fake.calls_to("POST", "/access_tokens$")] == ["jwt"]
    assert len(fake.calls_to("POST", "/repos/")) == 2


def test_permission_lookup_shape(scene: tuple[FakeGitHub, int]) -> None:
    fake, installation_id = scene
    fake.add_user("bob")
    fake.set_permission(REPO, "bob", "triage")
    token = _mint_token(fake, installation_id)
    url = f"{fake.api_url}/repos/{REPO}/collaborators/bob/permission"
    body = requests.get(url, headers={"Authorization": f"token {token}"}, timeout=10).json()
    assert (body["permission"], body["role_name"], body["user"]["login"]) == ("read", "triage", "bob")
    assert fake.violations == []


def test_pull_created_after_push_and_listed_by_head(scene: tuple[FakeGitHub, int],
                                                   tmp_path: Path) -> None:
    fake, installation_id = scene
    token = _mint_token(fake, installation_id)
    clone = tmp_path / "clone"
    assert _git("clone", f"{fake.base_url}/{REPO}.git", str(clone), token=token).returncode == 0
    assert (clone / "README.md").read_text() == FILES["README.md"]
    (clone / "README.md").write_text("# hello, world\n")
    _git("commit", "-am", "Greet the world", cwd=clone)
    pushed = _git("push", "origin", "HEAD:refs/heads/orca/issue-1", cwd=clone, token=token)
    assert pushed.returncode == 0, pushed.stderr
    assert fake.read_file(REPO, "orca/issue-1", "README.md") == "# hello, world\n"

    repo = _client(fake, installation_id).get_repo(REPO)
    pull = repo.create_pull(base="main", head="orca/issue-1", title="Fix greeting", body="Fixes #1")
    assert pull.number == 2  # issues and pulls share a sequence
    assert pull.head.sha == fake.branch_sha(REPO, "orca/issue-1")
    listed = repo.get_pulls(state="open", head="octo-org:orca/issue-1")
    assert [p.number for p in listed] == [2]
    assert list(repo.get_pulls(state="open", head="octo-org:other")) == []
    with pytest.raises(github.GithubException) as duplicate:
        repo.create_pull(base="main", head="orca/issue-1", title="Again", body="")
    assert duplicate.value.status == 422
    with pytest.raises(github.GithubException) as missing:
        repo.create_pull(base="main", head="no-such-branch", title="Nope", body="")
    assert missing.value.status == 422
    assert fake.violations == []
    assert {c.auth for c in fake.calls if c.path.startswith(f"/{REPO}.git")} == {"basic"}


def test_git_refuses_missing_expired_and_read_only_tokens(scene: tuple[FakeGitHub, int],
                                                        tmp_path: Path) -> None:
    fake, installation_id = scene
    url = f"{fake.base_url}/{REPO}.git"
    assert _git("clone", url, str(tmp_path / "anonymous")).returncode != 0
    read_only = _mint_token(fake, installation_id, permissions={"contents": "read"})
    clone = tmp_path / "clone"
    assert _git("clone", url, str(clone), token=read_only).returncode == 0
    _git("commit", "--allow-empty", "-m", "empty", cwd=clone)
    refused = _git("push", "origin", "HEAD:refs/heads/x", cwd=clone, token=read_only)
    assert refused.returncode != 0
    assert fake.branch_sha(REPO, "x") is None
    fake.expire_tokens()
    assert _git("clone", url, str(tmp_path / "expired"), token=read_only).returncode != 0


def test_bad_credentials_get_401(scene: tuple[FakeGitHub, int]) -> None:
    fake, installation_id = scene
    token = _mint_token(fake, installation_id)
    valid = Auth.AppAuth(fake.app_id, fake.private_key_pem).create_jwt()
    wrong_app = Auth.AppAuth(fake.app_id + 1, fake.private_key_pem).create_jwt()
    for forged in (valid[:-6] + "AAAAAA", wrong_app, "not.a.jwt"):
        response = requests.get(f"{fake.api_url}/app",
                                headers={"Authorization": f"Bearer {forged}"}, timeout=10)
        assert response.status_code == 401, forged
    fake.expire_tokens()
    expired = requests.get(f"{fake.api_url}/repos/{REPO}",
                           headers={"Authorization": f"token {token}"}, timeout=10)
    assert (expired.status_code, expired.json()["message"]) == (401, "Bad credentials")
    assert fake.violations == []


def test_token_scope_and_permissions(scene: tuple[FakeGitHub, int]) -> None:
    fake, installation_id = scene
    other = fake.add_repo("octo-org/other", installation_id, {"a.txt": "a\n"})
    hello_id = fake._repo(REPO).id
    token = _mint_token(fake, installation_id, repository_ids=[hello_id])
    headers = {"Authorization": f"token {token}"}
    assert requests.get(f"{fake.api_url}/repos/{REPO}", headers=headers, timeout=10).ok
    hidden = requests.get(f"{fake.api_url}/repos/{other['full_name']}", headers=headers, timeout=10)
    assert hidden.status_code == 404
    jwt = Auth.AppAuth(fake.app_id, fake.private_key_pem).create_jwt()
    too_much = requests.post(
        f"{fake.api_url}/app/installations/{installation_id}/access_tokens",
        json={"permissions": {"administration": "write"}},
        headers={"Authorization": f"Bearer {jwt}"}, timeout=10)
    assert too_much.status_code == 422
    assert fake.token_requests[0] == {"repository_ids": [hello_id]}
    assert fake.violations == []


def test_schema_breaking_request_is_a_violation(scene: tuple[FakeGitHub, int]) -> None:
    fake, installation_id = scene
    headers = {"Authorization": f"token {_mint_token(fake, installation_id)}"}
    response = requests.post(f"{fake.api_url}/repos/{REPO}/issues/1/reactions",
                             json={"content": "nope"}, headers=headers, timeout=10)
    assert response.status_code == 422
    assert any("reactions" in v and "nope" in v for v in fake.violations)
    unknown = requests.get(f"{fake.api_url}/repos/{REPO}/nowhere", headers=headers, timeout=10)
    assert (unknown.status_code, unknown.json()["message"]) == (404, "Not Found")
    assert any("unknown endpoint" in v for v in fake.violations)


def test_fail_next_injects_one_failure(scene: tuple[FakeGitHub, int]) -> None:
    fake, installation_id = scene
    fake.fail_next("GET", r"/issues/1$", 502, body="Bad gateway")
    headers = {"Authorization": f"token {_mint_token(fake, installation_id)}"}
    url = f"{fake.api_url}/repos/{REPO}/issues/1"
    assert requests.get(url, headers=headers, timeout=10).status_code == 502
    assert requests.get(url, headers=headers, timeout=10).status_code == 200


def test_a_secondary_rate_limit_is_shaped_like_githubs_and_pygithub_waits_it_out(
        scene: tuple[FakeGitHub, int]) -> None:
    fake, installation_id = scene
    fake.fail_next("GET", r"/issues/1$", 502)
    fake.rate_limit_next("GET", r"/issues/1$", retry_after=1)
    client = github.Github(auth=Auth.Token(_mint_token(fake, installation_id)),
                           base_url=fake.api_url, lazy=True, seconds_between_requests=None,
                           seconds_between_writes=None)  # the default GithubRetry
    assert client.get_repo(REPO).get_issue(1).title == "Fix the greeting"
    calls = fake.calls_to("GET", r"/issues/1$")
    assert [c.status for c in calls] == [502, 403, 200]
    assert calls[2].at - calls[1].at >= 1  # Retry-After was honoured
    assert fake.injections == [] and fake.violations == []


def test_a_canned_client_error_must_look_like_githubs(scene: tuple[FakeGitHub, int]) -> None:
    fake, installation_id = scene
    fake.fail_next("GET", r"/issues/1$", 403, body="Forbidden")
    headers = {"Authorization": f"token {_mint_token(fake, installation_id)}"}
    answer = requests.get(f"{fake.api_url}/repos/{REPO}/issues/1", headers=headers, timeout=10)
    assert answer.status_code == 403 and "X-RateLimit-Remaining" in answer.headers
    assert any("error body lacks GitHub's 'message'" in v for v in fake.violations)


def test_remaining_endpoints_match_the_description(scene: tuple[FakeGitHub, int]) -> None:
    fake, installation_id = scene
    fake.add_repo("alice/hello", None, FILES)  # a fork, outside the installation
    fork_pull = fake.add_pull(REPO, "main", "main", "From a fork", None, "alice",
                              head_repo_full_name="alice/hello")
    review_id = fake.add_review(REPO, fork_pull, "alice", "Looks odd")
    first = fake.add_review_comment(REPO, fork_pull, "@orca rename this", "alice",
                                    path="src/app.py", review_id=review_id)
    delivery = fake.add_delivery("issue_comment", "created", installation_id)
    fake.add_manifest_code("manifest-code")
    integration = github.GithubIntegration(
        auth=Auth.AppAuth(fake.app_id, fake.private_key_pem), base_url=fake.api_url)
    assert [i.id for i in integration.get_installations()] == [installation_id]
    assert integration.get_app_installation(installation_id).id == installation_id
    jwt = {"Authorization": f"Bearer {Auth.AppAuth(fake.app_id, fake.private_key_pem).create_jwt()}"}
    api = fake.api_url
    assert requests.get(f"{api}/app/hook/deliveries", headers=jwt, timeout=10).json()[0]["id"] == delivery
    assert requests.get(f"{api}/app/hook/deliveries/{delivery}", headers=jwt, timeout=10).ok
    assert requests.post(f"{api}/app/hook/deliveries/{delivery}/attempts", headers=jwt,
                         timeout=10).status_code == 202
    conversion = requests.post(f"{api}/app-manifests/manifest-code/conversions", timeout=10)
    assert conversion.status_code == 201 and "BEGIN RSA PRIVATE KEY" in conversion.json()["pem"]
    assert requests.get(f"{api}/rate_limit", timeout=10).ok

    repo = _client(fake, installation_id).get_repo(REPO)
    pull = repo.get_pull(fork_pull)
    assert (pull.head.label, pull.head.repo.full_name) == ("alice:main", "alice/hello")
    review_comments = list(pull.get_review_comments())
    assert [c.body for c in review_comments] == ["@orca rename this"]
    assert pull.get_review(review_id).body == "Looks odd"
    assert [c.id for c in pull.get_single_review_comments(review_id)] == [first["id"]]
    reply = pull.create_review_comment_reply(first["id"], "Renamed.")
    assert reply.in_reply_to_id == first["id"]
    assert review_comments[0].create_reaction("+1").content == "+1"
    pull.edit(title="Renamed", state="closed")
    assert repo.get_pull(fork_pull).state == "closed"
    comment = repo.get_issue(1).create_comment("temporary")
    comment.delete()
    assert repo.get_branch("main").commit.sha == fake.branch_sha(REPO, "main")
    assert fake.violations == []
