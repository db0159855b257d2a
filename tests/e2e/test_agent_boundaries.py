"""The agent's boundaries through whole runs: what the sandbox cannot see or reach, and how a
repository's `.github/orca.yml` shapes (but cannot widen) a run."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.e2e.conftest import Scene, comments_on, labeled_payload, make_scene
from tests.fakes.model import reply, text, tool_use


def scene_with(github, files: dict[str, str]) -> Scene:
    return make_scene(github, files={"README.md": "# Hello\n", **files}, body="Please.")


def tracking_comment(github, scene) -> str:
    [comment], _ = comments_on(github, scene)
    return comment.body


def probes(github_port: int) -> list[str]:
    connect = ("import socket; s = socket.socket(); s.settimeout(3)\n"
               "try:\n    s.connect(('127.0.0.1', %d)); print('CONNECTED')\n"
               "except OSError as e:\n    print('connect failed:', e)") % github_port
    return [
        "env",
        "cat /proc/*/environ 2>&1 | tr '\\0' '\\n'",
        "cat /proc/1/cmdline | tr '\\0' ' '",
        "cat .git",
        "git -C /workspace config --list --show-origin",
        "grep -rsI -e ghs_ -e 'PRIVATE KEY' / --exclude-dir=proc --exclude-dir=sys 2>/dev/null | head",
        "ls -la ~ /root /work /home 2>&1",
        f"python3 -c \"{connect}\"",
        f"curl -sS -m 3 http://127.0.0.1:{github_port}/ 2>&1 || echo curl failed",
    ]


def test_the_sandbox_shows_no_secret_and_reaches_no_one(orca):
    scene = scene_with(orca.github, {})
    port = urlsplit(orca.github.base_url).port
    commands = probes(port)
    orca.model.script(reply(*[tool_use("bash", {"command": c}) for c in commands]),
                      reply(text("Looked around; nothing to change.")))
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    assert orca.model.remaining == 0 and orca.model.violations == []
    results = [b for b in orca.model.requests[1]["messages"][-1]["content"] if b["type"] == "tool_result"]
    assert len(results) == len(commands)
    seen = "\n".join(r["content"] for r in results)
    secrets = [*orca.github.state.tokens, orca.github.webhook_secret, orca.model.api_key,
               *[line for line in orca.github.private_key_pem.splitlines() if "-----" not in line][:3]]
    assert orca.github.state.tokens, "the run minted tokens before the agent ran"
    for secret in secrets:
        assert secret not in seen
    assert "connect failed" in results[7]["content"] and "CONNECTED" not in seen
    assert "curl failed" in results[8]["content"]
    assert "ANTHROPIC" not in seen and "GITHUB_" not in seen
    assert "gitdir:" in results[3]["content"]  # the worktree pointer, and nothing else


def test_a_malformed_config_ends_the_run_quoting_the_problem(orca):
    scene = scene_with(orca.github, {".github/orca.yml": "budgets:\n  max_turns: lots\n"})
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    body = tracking_comment(orca.github, scene)
    assert body.startswith("❌ Orca's run failed: `.github/orca.yml` is not valid")
    assert "budgets.max_turns: Input should be a valid integer" in body
    assert "Fix `.github/orca.yml` on the default branch" in body
    assert orca.model.requests == []


def test_a_failing_setup_command_ends_the_run_with_its_output(orca):
    config = "setup:\n  - echo ready\n  - echo cannot build the widget >&2; exit 3\n"
    scene = scene_with(orca.github, {".github/orca.yml": config})
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    body = tracking_comment(orca.github, scene)
    assert "the setup command `echo cannot build the widget >&2; exit 3` failed (exit code 3)" in body
    assert "\ncannot build the widget\n" in body
    assert orca.model.requests == []


def test_repository_budgets_lower_the_turn_limit_and_the_test_command_reaches_the_model(orca):
    config = "budgets: {max_turns: 1}\ntest: python3 -m pytest -q\nprotected_paths: ['secret/*']\n"
    scene = scene_with(orca.github, {".github/orca.yml": config})
    orca.model.script(reply(tool_use("bash", {"command": "mkdir secret && echo x > secret/a && echo y > b"})))
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    assert "python3 -m pytest -q" in orca.model.requests[0]["messages"][0]["content"][0]["text"]
    [pull] = [i for i in orca.github.state.issues.values() if i.pull is not None]
    assert pull.pull.draft is True and "stopped by the turn limit (1)" in pull.body
    assert "`secret/a`" in pull.body
