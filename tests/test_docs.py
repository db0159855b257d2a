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
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pytest" in ci
    # What .ci/run installs, and where `orca up` without .env serves the setup page.
    assert "chromium" in ci and "Chromium" in block
    up = parser().parse_args(["up"])
    assert f"http://{up.host}:{up.port}/" in block and "registers the GitHub App" in " ".join(block.split())


# GitHub's names for the permissions on its "register a GitHub App" form, and its access words.
PERMISSION_NAMES = {"contents": "Contents", "issues": "Issues", "pull_requests": "Pull requests",
                    "metadata": "Metadata", "checks": "Checks", "statuses": "Commit statuses",
                    "actions": "Actions"}
ACCESS_NAMES = {"read": "Read-only", "write": "Read and write"}


def test_the_hand_registration_list_is_the_manifests():
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    section = README.split("To register by hand instead", 1)[1].split("```", 1)[0]
    rows = dict(re.findall(r"^\| ([A-Z][a-z ]+) \| ([A-Z][\w -]+?)(?: \(.*\))? \|$", section,
                           re.MULTILINE))
    assert rows == {PERMISSION_NAMES[name]: ACCESS_NAMES[access]
                    for name, access in manifest["default_permissions"].items()}
    events = " ".join(section.split()).lower()
    for event in manifest["default_events"]:
        assert f"*{event.replace('_', ' ')}*" in events, event


def test_the_setup_page_is_described_once_and_reachable_from_afar():
    assert README.count("For GitHub Enterprise Server set") == 1
    setup = parser().parse_args(["setup"])
    assert f"ssh -L {setup.port}:{setup.host}:{setup.port}" in README


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
