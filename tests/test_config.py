"""`.github/orca.yml`: strict parsing, and budgets that can only be lowered."""

from __future__ import annotations

import os
import subprocess

import pytest

from core.budget import Budget
from core.pricing import price_for
from core.settings import AgentSettings
from jobs.agent.session import choose_model
from jobs.workspace.config import (
    MAX_CONFIG_BYTES,
    ConfigError,
    RepoConfig,
    load_config,
    parse_config,
)


def test_a_full_config_parses():
    config = parse_config(b"""
model: claude-haiku-4-5
budgets: {max_turns: 20, max_tokens: 500000, max_dollars: 1.5, max_minutes: 10}
setup: [pip install -e ., make assets]
test: pytest -q
network: true
protected_paths: ["migrations/*", "*.lock"]
""")
    assert config.budgets.max_dollars == 1.5 and config.setup == ["pip install -e .", "make assets"]
    assert config.network is True and config.test == "pytest -q"


@pytest.mark.parametrize("raw", [b"", b"# only a comment\n", b"null\n"])
def test_an_empty_file_means_the_defaults(raw):
    assert parse_config(raw) == RepoConfig()


@pytest.mark.parametrize("raw, quoted", [
    (b"budgets: {max_turns: [1\n", "not valid YAML"),
    (b"- a list\n", "must be a mapping"),
    (b"netwerk: true\n", "netwerk: Extra inputs are not permitted"),
    (b"budgets: {max_dollars: 1, max_cents: 5}\n", "budgets.max_cents: Extra inputs are not permitted"),
    (b"network: 'yes please'\n", "network: Input should be a valid boolean"),
    (b"budgets: {max_turns: '5'}\n", "budgets.max_turns: Input should be a valid integer"),
    (b"budgets: {max_turns: 0}\n", "budgets.max_turns: Input should be greater than or equal to 1"),
    (b"setup: npm ci\n", "setup: Input should be a valid list"),
    (b"setup: ['']\n", "entries must be non-empty"),
    (b"model: 'claude; rm -rf /'\n", "model: String should match pattern"),
    (b"x: !!python/object/apply:os.system [echo hi]\n", "not valid YAML"),
])
def test_malformed_configs_are_refused_with_the_problem_quoted(raw, quoted):
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert quoted in str(caught.value)


def test_an_oversized_file_is_refused_before_parsing():
    with pytest.raises(ConfigError, match="limit is 32,000"):
        parse_config(b"#" * (MAX_CONFIG_BYTES + 1))


def test_budgets_can_only_lower_the_operators_limits():
    operator = Budget(max_turns=60, max_tokens=1_000_000, max_dollars=10, max_minutes=45)
    repo = parse_config(b"budgets: {max_turns: 500, max_tokens: 2000, max_dollars: 99, max_minutes: 5}")
    assert operator.lowered(**repo.budgets.wishes()) == Budget(60, 2000, 10, 5)
    assert operator.lowered(**RepoConfig().budgets.wishes()) == operator


def test_a_repository_model_needs_a_known_price(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("ORCA_PRICES", '{"my-model": [1, 2]}')
    settings = AgentSettings()
    assert settings.prices == {"my-model": (1.0, 2.0)}
    assert choose_model(settings, parse_config(b"model: my-model-v2")) == "my-model-v2"
    assert choose_model(settings, RepoConfig()) == settings.model
    with pytest.raises(ConfigError, match="no known price"):
        choose_model(settings, parse_config(b"model: mystery-1"))


def test_price_overrides_take_the_longest_prefix():
    assert price_for("claude-sonnet-5-5") == (3.0, 15.0)
    assert price_for("claude-sonnet-5-5", {"claude-sonnet-5": (2.0, 8.0)}) == (2.0, 8.0)
    assert price_for("gpt-x") is None


def commit_file(repo, name, content=None, link=None):
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if link:
        os.symlink(link, path)
    else:
        path.write_text(content)
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"], cwd=repo, check=True)


@pytest.fixture
def repo(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    commit_file(tmp_path, "README.md", "hi\n")
    return tmp_path


def test_config_is_read_from_the_commit_not_the_worktree(repo):
    assert load_config(repo / ".git", "HEAD") == RepoConfig()
    commit_file(repo, ".github/orca.yml", "test: make check\n")
    (repo / ".github" / "orca.yml").write_text("network: true\n")  # uncommitted: ignored
    assert load_config(repo / ".git", "HEAD") == RepoConfig(test="make check")


def test_a_symlinked_config_is_refused(repo):
    commit_file(repo, ".github/orca.yml", link="/etc/passwd")
    with pytest.raises(ConfigError, match="regular file"):
        load_config(repo / ".git", "HEAD")


def test_a_config_behind_a_symlinked_github_folder_is_not_read(repo, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "orca.yml").write_text("network: true\n")
    commit_file(repo, ".github", link=str(elsewhere))
    assert load_config(repo / ".git", "HEAD") == RepoConfig()
