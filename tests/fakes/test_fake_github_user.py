"""The fake GitHub's sign-in: the OAuth web flow and what a user token may list."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from tests.fakes.github import FakeGitHub


def _scene(fake: FakeGitHub) -> tuple[int, int]:
    """Two installations; alice writes to one private repository and reads nothing else."""
    first, second = fake.add_installation("octo-org"), fake.add_installation("other-org")
    fake.add_repo("octo-org/hello", first, {"README.md": "hi\n"}, private=True)
    fake.add_repo("octo-org/public", first, {"README.md": "hi\n"})
    fake.add_repo("other-org/secret", second, {"README.md": "hi\n"}, private=True)
    fake.set_permission("octo-org/hello", "alice", "write")
    return first, second


def _sign_in(fake: FakeGitHub, login: str) -> str:
    """The web flow as a browser and an App would run it; returns the user token."""
    fake.state.web_login = login
    answer = requests.get(f"{fake.base_url}/login/oauth/authorize", allow_redirects=False,
                          params={"client_id": fake.app_json()["client_id"], "state": "s1",
                                  "redirect_uri": "http://orca.test/auth/callback"}, timeout=10)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    query = parse_qs(location.query)
    assert (location.netloc, location.path, query["state"]) == ("orca.test", "/auth/callback", ["s1"])
    exchange = requests.post(f"{fake.base_url}/login/oauth/access_token", timeout=10,
                             data={"code": query["code"][0], "client_id": "c", "client_secret": "s"},
                             headers={"Accept": "application/json"})
    return exchange.json()["access_token"]


def _get(fake: FakeGitHub, path: str, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{fake.api_url}{path}", headers=headers, timeout=10)


def test_a_user_token_lists_only_explicit_access(fake_github):
    first, _second = _scene(fake_github)
    token = _sign_in(fake_github, "alice")
    assert _get(fake_github, "/user", token).json()["login"] == "alice"
    installations = _get(fake_github, "/user/installations", token).json()
    assert [i["id"] for i in installations["installations"]] == [first]
    repos = _get(fake_github, f"/user/installations/{first}/repositories", token).json()
    assert [(r["full_name"], r["permissions"]["push"]) for r in repos["repositories"]] == [
        ("octo-org/hello", True)]
    assert fake_github.violations == []


def test_other_installations_unknown_tokens_and_codes_are_refused(fake_github):
    _first, second = _scene(fake_github)
    token = _sign_in(fake_github, "alice")
    assert _get(fake_github, f"/user/installations/{second}/repositories", token).status_code == 404
    assert _get(fake_github, "/user/installations", "ghu_forged").status_code == 401
    assert _get(fake_github, "/user/installations", None).status_code == 401
    reused = requests.post(f"{fake_github.base_url}/login/oauth/access_token", timeout=10,
                           data={"code": "never-issued"}, headers={"Accept": "application/json"})
    assert reused.json()["error"] == "bad_verification_code"
    wrong_client = requests.get(f"{fake_github.base_url}/login/oauth/authorize", timeout=10,
                                params={"client_id": "nope", "redirect_uri": "http://x/"},
                                allow_redirects=False)
    assert wrong_client.status_code == 404
    assert fake_github.violations == []


def test_pages_follow_link_headers(fake_github):
    installation = fake_github.add_installation("big-org")
    for n in range(3):
        fake_github.add_repo(f"big-org/r{n}", installation, {"README.md": "hi\n"}, private=True)
        fake_github.set_permission(f"big-org/r{n}", "bob", "read")
    token = _sign_in(fake_github, "bob")
    first = requests.get(f"{fake_github.api_url}/user/installations/{installation}/repositories",
                         params={"per_page": 2}, headers={"Authorization": f"Bearer {token}"},
                         timeout=10)
    assert first.json()["total_count"] == 3 and len(first.json()["repositories"]) == 2
    rest = requests.get(first.links["next"]["url"], headers={"Authorization": f"Bearer {token}"},
                        timeout=10)
    assert [r["name"] for r in rest.json()["repositories"]] == ["r2"]
    assert int(rest.headers["X-RateLimit-Remaining"]) < 5000
    assert fake_github.violations == []
