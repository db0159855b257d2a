from typing import get_args

import anthropic
import pytest
from anthropic.types.model_param import ModelParam

from core.settings import DEFAULT_MODEL, Settings, SettingsError, load_settings

REQUIRED = {"GITHUB_APP_ID": "1", "GITHUB_PRIVATE_KEY": "pem", "GITHUB_WEBHOOK_SECRET": "s"}


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in list(REQUIRED) + ["GITHUB_URL", "GITHUB_API_URL", "GITHUB_PRIVATE_KEY_PATH"]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_missing_setting_is_named(env):
    env.setenv("GITHUB_PRIVATE_KEY", "pem")
    env.setenv("GITHUB_WEBHOOK_SECRET", "s")
    with pytest.raises(SettingsError, match="^GITHUB_APP_ID is not set$"):
        load_settings()


def test_malformed_setting_is_named(env):
    for name, value in REQUIRED.items():
        env.setenv(name, value)
    env.setenv("GITHUB_APP_ID", "twelve")
    with pytest.raises(SettingsError, match="^GITHUB_APP_ID: "):
        load_settings()
    env.setenv("GITHUB_APP_ID", "12")
    env.setenv("ORCA_SANDBOX", "docker")
    with pytest.raises(SettingsError, match="^ORCA_SANDBOX: "):
        load_settings()


def test_private_key_is_required_in_one_form(env, tmp_path):
    env.setenv("GITHUB_APP_ID", "1")
    env.setenv("GITHUB_WEBHOOK_SECRET", "s")
    with pytest.raises(SettingsError, match="GITHUB_PRIVATE_KEY"):
        load_settings()
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN-----")
    env.setenv("GITHUB_PRIVATE_KEY_PATH", str(key))
    assert load_settings().private_key() == "-----BEGIN-----"


def test_dotenv_file_is_read(env, tmp_path):
    (tmp_path / ".env").write_text("GITHUB_APP_ID=5\nGITHUB_PRIVATE_KEY=pem\nGITHUB_WEBHOOK_SECRET=x\n")
    assert load_settings().github_app_id == 5


@pytest.mark.parametrize("url, api", [
    ("https://github.com", "https://api.github.com"),
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/api/v3"),
    ("https://ghe.example.com", "https://ghe.example.com/api/v3"),
])
def test_api_url_from_github_url(url, api):
    settings = Settings(GITHUB_APP_ID=1, GITHUB_PRIVATE_KEY="k", GITHUB_WEBHOOK_SECRET="s", GITHUB_URL=url)
    assert settings.api_url == api
    assert settings.clone_url("o/r") == f"{url.rstrip('/')}/o/r.git"


def test_default_model_is_current_and_not_deprecated():
    from anthropic.resources.messages.messages import DEPRECATED_MODELS

    known = get_args(get_args(ModelParam)[0])
    assert DEFAULT_MODEL in known, f"{DEFAULT_MODEL} is not a model the SDK {anthropic.__version__} knows"
    assert DEFAULT_MODEL not in DEPRECATED_MODELS
    assert "sonnet" in DEFAULT_MODEL


def test_a_settings_read_is_kept_while_its_sources_are_unchanged(env, tmp_path):
    """Each job loads the settings: the same environment, directory and .env give the same
    (frozen) object; a changed variable or .env file is read afresh."""
    (tmp_path / ".env").write_text("GITHUB_APP_ID=5\nGITHUB_PRIVATE_KEY=pem\nGITHUB_WEBHOOK_SECRET=x\n")
    first = load_settings()
    assert load_settings() is first
    with pytest.raises(ValueError, match="frozen"):
        first.max_runs = 99
    (tmp_path / ".env").write_text("GITHUB_APP_ID=6\nGITHUB_PRIVATE_KEY=pem\nGITHUB_WEBHOOK_SECRET=x\n")
    assert load_settings().github_app_id == 6
    env.setenv("GITHUB_APP_ID", "7")
    assert load_settings().github_app_id == 7
    assert load_settings(github_app_id=8).github_app_id == 8
    assert load_settings().github_app_id == 7
