"""`orca setup`: the register page, GitHub's return to /callback, and what lands on disk.

The code exchange talks HTTP to the fake GitHub, whose `POST /app-manifests/{code}/conversions`
is checked against GitHub's OpenAPI description.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml
from dotenv import dotenv_values

from app.setup import Written, create_setup_app
from app.setup import manifest as setup_manifest
from app.setup.files import merged_env
from core.settings import load_settings
from tests.fakes.github import FakeGitHub

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = yaml.safe_load((ROOT / "manifest.yml").read_text())
WEBHOOK_URL = "https://orca.example.org/webhooks"
CREDENTIAL_KEYS = {"GITHUB_APP_ID", "GITHUB_PRIVATE_KEY_PATH", "GITHUB_WEBHOOK_SECRET",
                   "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"}


class _Form(HTMLParser):
    """The register form's action and its manifest textarea, as a browser would post them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.action = ""
        self.manifest = ""
        self._in_textarea = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            self.action = dict(attrs)["action"] or ""
        self._in_textarea = tag == "textarea" and dict(attrs).get("name") == "manifest"

    def handle_endtag(self, tag: str) -> None:
        self._in_textarea = False

    def handle_data(self, data: str) -> None:
        if self._in_textarea:
            self.manifest += data


def _page(client: Any) -> tuple[str, dict[str, Any], str]:
    """GET / → (form action, posted manifest, state)."""
    answer = client.get("/")
    assert answer.status_code == 200
    form = _Form(answer.get_data(as_text=True))
    state = parse_qs(urlsplit(form.action).query)["state"][0]
    return form.action, json.loads(form.manifest), state


def _setup_app(fake: FakeGitHub, out_dir: Path, **options: Any):
    return create_setup_app(fake.base_url, out_dir, api_url=fake.api_url, **options)


def test_personal_page_posts_the_manifest_with_this_runs_urls(fake_github, tmp_path):
    client = _setup_app(fake_github, tmp_path, webhook_url=WEBHOOK_URL).test_client()
    action, manifest, state = _page(client)
    assert action == f"{fake_github.base_url}/settings/apps/new?state={state}"
    assert len(state) >= 32
    assert manifest["hook_attributes"] == {"url": WEBHOOK_URL, "active": True}
    assert manifest["redirect_url"] == "http://localhost/callback"
    assert manifest["callback_urls"] == ["https://orca.example.org/auth/callback"]
    assert manifest["setup_url"] == "https://orca.example.org/"
    for key in ("name", "default_permissions", "default_events", "public"):
        assert manifest[key] == MANIFEST[key]
    assert 'id="placeholder"' not in client.get("/").get_data(as_text=True)


def test_org_page_posts_to_the_organisation_and_flags_the_placeholder(fake_github, tmp_path):
    client = _setup_app(fake_github, tmp_path, org="octo-org").test_client()
    action, manifest, state = _page(client)
    assert action == f"{fake_github.base_url}/organizations/octo-org/settings/apps/new?state={state}"
    assert manifest["hook_attributes"]["url"] == MANIFEST["hook_attributes"]["url"]
    assert 'id="placeholder"' in client.get("/").get_data(as_text=True)
    assert _page(client)[2] != state  # a fresh state for every page view


def test_callback_exchanges_the_code_and_writes_env_and_key(fake_github, tmp_path):
    done: list[Written] = []
    client = _setup_app(fake_github, tmp_path, on_done=done.append).test_client()
    _, _, state = _page(client)
    fake_github.add_manifest_code("code-1")
    answer = client.get(f"/callback?code=code-1&state={state}")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    install = f"{fake_github.app_json()['html_url']}/installations/new"
    assert install in page and done[0].registration.install_url == install
    calls = fake_github.calls_to("POST", r"/app-manifests/code-1/conversions$")
    assert [(c.status, c.auth) for c in calls] == [(201, "none")]
    assert fake_github.violations == []

    env = dotenv_values(tmp_path / ".env")
    assert set(env) == CREDENTIAL_KEYS | {"REDIS_PASSWORD"}
    assert len(env["REDIS_PASSWORD"]) >= 40  # 32 random bytes, for compose.yaml's Redis
    assert env["GITHUB_APP_ID"] == str(fake_github.app_id)
    assert env["GITHUB_WEBHOOK_SECRET"] == fake_github.webhook_secret
    assert env["GITHUB_CLIENT_ID"] == f"Iv1.{fake_github.app_id}"
    key = tmp_path / env["GITHUB_PRIVATE_KEY_PATH"]
    assert key.read_text() == fake_github.private_key_pem
    for path in (key, tmp_path / ".env"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for secret in (fake_github.webhook_secret, env["GITHUB_CLIENT_SECRET"], "PRIVATE KEY",
                   env["REDIS_PASSWORD"]):
        assert secret not in page


def test_orca_starts_from_what_setup_wrote(fake_github, tmp_path, monkeypatch):
    for name in CREDENTIAL_KEYS | {"GITHUB_PRIVATE_KEY"}:
        monkeypatch.delenv(name, raising=False)
    client = _setup_app(fake_github, tmp_path).test_client()
    fake_github.add_manifest_code("code-2")
    assert client.get(f"/callback?code=code-2&state={_page(client)[2]}").status_code == 200
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.github_app_id == fake_github.app_id
    assert settings.private_key() == fake_github.private_key_pem


def test_callback_merges_with_an_existing_env(fake_github, tmp_path):
    (tmp_path / ".env").write_text(
        "# mine\nANTHROPIC_API_KEY=sk-ant-keep\nGITHUB_APP_ID=1\n"
        'GITHUB_PRIVATE_KEY="-----BEGIN RSA PRIVATE KEY-----\nold\n-----END RSA PRIVATE KEY-----"\n'
        "ORCA_TRIGGER_LABEL=robot\nREDIS_PASSWORD=the-running-redis-has-it\n")
    client = _setup_app(fake_github, tmp_path).test_client()
    fake_github.add_manifest_code("code-3")
    assert client.get(f"/callback?code=code-3&state={_page(client)[2]}").status_code == 200
    text = (tmp_path / ".env").read_text()
    env = dotenv_values(tmp_path / ".env")
    assert text.startswith("# mine\nANTHROPIC_API_KEY=sk-ant-keep\n")
    assert env["GITHUB_APP_ID"] == str(fake_github.app_id) and env["ORCA_TRIGGER_LABEL"] == "robot"
    assert env["REDIS_PASSWORD"] == "the-running-redis-has-it"  # Redis was started with it
    assert "GITHUB_PRIVATE_KEY" not in env and "old" not in text  # it would win over the file
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600


@pytest.mark.parametrize("query", ["code=c&state=forged", "code=c", "state=forged"])
def test_bad_state_is_refused_and_nothing_is_written(fake_github, tmp_path, query):
    client = _setup_app(fake_github, tmp_path).test_client()
    _page(client)
    fake_github.add_manifest_code("c")
    assert client.get(f"/callback?{query}").status_code == 400
    assert list(tmp_path.iterdir()) == []
    assert fake_github.calls == []


def test_a_state_works_once(fake_github, tmp_path):
    client = _setup_app(fake_github, tmp_path).test_client()
    _, _, state = _page(client)
    fake_github.add_manifest_code("first")
    fake_github.add_manifest_code("second")
    assert client.get(f"/callback?code=first&state={state}").status_code == 200
    before = (tmp_path / ".env").read_text()
    assert client.get(f"/callback?code=second&state={state}").status_code == 400
    assert (tmp_path / ".env").read_text() == before
    assert len(fake_github.calls_to("POST", "/app-manifests/")) == 1


def test_a_code_github_refuses_writes_nothing(fake_github, tmp_path):
    client = _setup_app(fake_github, tmp_path).test_client()
    answer = client.get(f"/callback?code=expired&state={_page(client)[2]}")
    assert answer.status_code == 502 and "expire" in answer.get_data(as_text=True)
    assert list(tmp_path.iterdir()) == []
    assert fake_github.violations == []


def test_env_merge_keeps_what_it_does_not_own():
    existing = "A=1\n\n# note\nexport B=2\nB=3\nC='multi\nline'\nD=4\n"
    merged = merged_env(existing, {"B": "new value", "E": 'q"uote'}, drop=["C"])
    assert merged == 'A=1\n\n# note\nB="new value"\nD=4\nE="q\\"uote"\n'
    assert dotenv_values(stream=io.StringIO(merged)) == {
        "A": "1", "B": "new value", "D": "4", "E": 'q"uote'}


def test_orca_setup_runs_with_no_settings(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "ORCA_", "REDIS_", "ANTHROPIC_"))}
    command = [sys.executable, "-m", "app.cli", "setup", "--port", "0"]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "Register the GitHub App" in line, process.stderr.read()
        url = line.split("open ", 1)[1].split()[0]
        page = requests.get(url, timeout=10).text
        assert 'action="https://github.com/settings/apps/new?state=' in page
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    assert process.returncode == 1  # stopped before any App was registered
    assert list(tmp_path.iterdir()) == []


def test_a_folder_it_cannot_write_explains_how_to_recover(fake_github, tmp_path):
    out_dir = tmp_path / "gone"  # removed under the page's feet
    client = _setup_app(fake_github, out_dir).test_client()
    fake_github.add_manifest_code("code-4")
    answer = client.get(f"/callback?code=code-4&state={_page(client)[2]}")
    assert answer.status_code == 500
    assert "generate a new private key" in answer.get_data(as_text=True)
    assert not out_dir.exists()


def test_orca_setup_stops_once_registered_and_prints_the_install_url(fake_github, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ORCA_"))}
    env.update(GITHUB_URL=fake_github.base_url, GITHUB_API_URL=fake_github.api_url)
    command = [sys.executable, "-m", "app.cli", "setup", "--port", "0", "--org", "octo-org"]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().split("open ", 1)[1].split()[0]
        form = _Form(requests.get(url, timeout=10).text)
        assert form.action.startswith(f"{fake_github.base_url}/organizations/octo-org/")
        fake_github.add_manifest_code("cli-code")
        state = parse_qs(urlsplit(form.action).query)["state"][0]
        assert requests.get(f"{url}callback", params={"code": "cli-code", "state": state},
                            timeout=10).status_code == 200
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert f"{fake_github.app_json()['html_url']}/installations/new" in out
    assert fake_github.webhook_secret not in out + err and "PRIVATE KEY" not in out + err
    assert dotenv_values(tmp_path / ".env")["GITHUB_APP_ID"] == str(fake_github.app_id)


def test_orca_setup_finds_its_manifest_after_a_plain_pip_install(tmp_path):
    """The Dockerfile's `pip install .` copies packages, not the checkout: the manifest must
    travel as package data, or setup fails inside the image (issue 20)."""
    source, site = tmp_path / "source", tmp_path / "site"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):  # what the Dockerfile copies, and no more
        shutil.copy(ROOT / name, source / name)
    for package in ("app", "core", "jobs"):
        shutil.copytree(ROOT / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    install = [sys.executable, "-m", "pip", "install", "--verbose", "--no-deps", "--target",
               str(site), str(source)]
    built = subprocess.run(install, check=True, capture_output=True, text=True, timeout=300)
    assert "SetuptoolsDeprecationWarning" not in built.stdout + built.stderr  # project.license
    assert (site / "app" / "setup" / "manifest.yml").is_file()
    assert (site / "core" / "generated.gitignore").is_file()  # core.git's excludes
    elsewhere = tmp_path / "elsewhere"  # no checkout, no manifest.yml in the folder either
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "ORCA_", "REDIS_", "ANTHROPIC_"))}
    env["PYTHONPATH"] = str(site)  # ahead of the editable install's finder
    command = [sys.executable, "-m", "app.cli", "setup", "--port", "0"]
    process = subprocess.Popen(command, cwd=elsewhere, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "Register the GitHub App" in line, process.stderr.read()
        page = requests.get(line.split("open ", 1)[1].split()[0], timeout=10).text
        assert 'action="https://github.com/settings/apps/new?state=' in page
        posted = json.loads(_Form(page).manifest)
        assert posted["default_permissions"] == MANIFEST["default_permissions"]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    where = subprocess.run([sys.executable, "-c", "import app.setup.manifest as m; print(m.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(site))


def test_setup_writes_the_public_url_from_the_webhook_url(fake_github, tmp_path):
    client = _setup_app(fake_github, tmp_path, webhook_url=WEBHOOK_URL).test_client()
    fake_github.add_manifest_code("code-pub")
    assert client.get(f"/callback?code=code-pub&state={_page(client)[2]}").status_code == 200
    assert dotenv_values(tmp_path / ".env")["ORCA_PUBLIC_URL"] == "https://orca.example.org"


@pytest.mark.parametrize(("webhook_url", "public"), [
    ("https://orca.example.org/webhooks", "https://orca.example.org"),
    ("https://host.test:8443/orca/webhooks/", "https://host.test:8443/orca"),
    ("https://orca.example.com/webhooks", ""),  # manifest.yml's placeholder
    ("https://host.test/hooks", ""),
    (None, ""),
])
def test_public_url_is_the_webhook_url_before_webhooks(webhook_url, public):
    assert setup_manifest.public_url(webhook_url) == public
