"""The docs stay honest: every setting in the README, every handled event in the manifest."""

import re
from pathlib import Path

import pytest
import yaml

from app.cli import main, parser
from core.settings import Settings
from core.triggers import ALWAYS_DELIVERED, HANDLED_EVENTS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_readme_table():
    aliases = {field.alias for field in Settings.model_fields.values()}
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", README, re.MULTILINE))
    assert aliases == documented


def test_manifest_events_are_exactly_the_handled_events():
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    subscribed = set(manifest["default_events"])
    assert subscribed | ALWAYS_DELIVERED == HANDLED_EVENTS
    assert not subscribed & ALWAYS_DELIVERED
    assert manifest["default_permissions"] == {
        "contents": "write", "issues": "write", "pull_requests": "write",
        "metadata": "read", "checks": "read", "statuses": "read",
        "actions": "read"}  # least privilege: read CI, no workflows
    assert manifest["public"] is False
    for key in ("name", "url", "hook_attributes", "redirect_url", "setup_url", "callback_urls"):
        assert manifest[key], key


def test_readme_opens_with_the_start_and_test_commands():
    block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert "orca up" in block and "bash .ci/run" in block
    assert "pytest" in (ROOT / ".ci" / "run").read_text()


def test_every_command_is_documented():
    commands = parser()._subparsers._group_actions[0].choices
    for name in commands:
        assert f"`orca {name}" in README


@pytest.mark.parametrize(("command", "port"), [("web", 8000), ("up", 8000), ("setup", 3000)])
def test_help_says_what_listens_and_the_defaults(command, port, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "(default: 127.0.0.1;" in said and f"(default: {port})" in said
    if command == "web":
        assert "mission control (/runs" in said and "/metrics" in said and "/healthz" in said
