"""Real repositories' environments: setup with the network and its secrets, the agent without,
and what setup made kept warm for the next run with the same key (#14).

Each run here is a whole run through the fakes, with real bubblewrap, real slirp4netns and a
"public" host in a network namespace of the test's own (tests/hostile/public_host.py): setup
reaches it, the agent does not.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest

from core.runs import RunStore
from tests.e2e.conftest import Scene, comments_on, labeled_payload, make_scene, pulls
from tests.e2e.conversation_scenes import bodies, command
from tests.e2e.secrets_audit import Evidence, leaks
from tests.fakes.model import looks_right, reply, text, tool_use

MADE = ".env-made"


def config(public: str, extra: str = "") -> str:
    """Setup that records what it could do: a stamp of when it ran, whether it had the token,
    what the public host answered; the key is `deps.lock`."""
    return (
        "setup:\n"
        f"  - mkdir -p {MADE} && date +%s%N > {MADE}/stamp && echo kept > {MADE}/note\n"
        f"  - echo \"the token is $SETUP_TOKEN\"; if [ -n \"$SETUP_TOKEN\" ]; then echo yes; "
        f"else echo no; fi > {MADE}/had-token\n"
        f"  - curl -sS -m 5 http://{public}/ > {MADE}/fetched || echo offline > {MADE}/fetched\n"
        "setup_key: [deps.lock]\n" + extra)


def repository(public: str, extra: str = "") -> dict[str, str]:
    return {"README.md": "# Hello\n", "deps.lock": "probe==1\n", ".gitignore": f"{MADE}/\n",
            ".github/orca.yml": config(public, extra)}


LOOK = (f'for f in stamp had-token fetched note; do echo "$(cat {MADE}/$f)"; done; '
        "printenv SETUP_TOKEN || echo agent-has-no-token")


def agent_runs(orca, scene: Scene, *commands: str, deliver=None,
               number: int | None = None) -> tuple[list[str], str, str]:
    """One run whose agent runs `commands`, then stops: (what they printed, the tracking
    comment's final words, the run id). `deliver` sends another trigger than the label, on
    issue or PR `number`."""
    before = len(orca.model.requests)
    orca.model.script(reply(*[tool_use("bash", {"command": c}) for c in commands]),
                      reply(text("Looked around.")))
    _status, answer = (deliver or (lambda: orca.deliver(
        "issues", labeled_payload(orca.github, scene))))()
    orca.drain()
    assert orca.model.remaining == 0 and orca.model.violations == []
    blocks = orca.model.requests[before + 1]["messages"][-1]["content"]
    results = [b["content"] for b in blocks if b["type"] == "tool_result"]
    said = bodies(orca.github, scene.full_name, number or scene.number)
    return results, said[-1], answer["run"]


def another_issue(orca, scene: Scene, title: str = "Another look") -> Scene:
    number = orca.github.add_issue(scene.full_name, title, "Please look.", "octocat",
                                   labels=["agent"])
    return Scene(scene.installation_id, scene.repo, number, scene.requester)


def setup_phases(orca, run_id: str) -> list[dict]:
    return [e["data"] for e in RunStore(orca.redis).events(run_id) if e["kind"] == "setup_phase"]


def kept(orca) -> list[Path]:
    root = orca.data_dir / "environments"
    return sorted(p for p in root.glob("*/*") if not p.name.startswith(".")) if root.is_dir() else []


@pytest.fixture
def token(monkeypatch) -> str:
    value = f"setup-token-{secrets.token_hex(16)}"
    monkeypatch.setenv("ORCA_SETUP_SECRETS", "SETUP_TOKEN")
    monkeypatch.setenv("SETUP_TOKEN", value)
    return value


def test_setup_has_the_network_and_its_secret_the_agent_neither_and_the_next_run_starts_warm(
        orca, public_host, token, caplog, capfd):
    caplog.set_level(logging.INFO)
    public = public_host.far["public"]
    scene = make_scene(orca.github, files=repository(public))
    evidence = Evidence(orca, [])
    first, comment, first_run = agent_runs(orca, scene, LOOK,
                                           f"curl -sS -m 3 http://{public}/ || echo agent-offline")
    stamp, had_token, fetched, note, agent_env = first[0].splitlines()
    assert (had_token, fetched, note) == ("yes", public_host.answer, "kept")
    assert agent_env == "agent-has-no-token" and first[1].endswith("agent-offline")
    [phase] = setup_phases(orca, first_run)
    assert (phase["cached"], phase["trusted"], phase["network"], phase["kept"]) == (False, True, True, True)
    assert phase["secrets"] == ["SETUP_TOKEN"]
    assert "(network, kept for later runs)" in comment and "· agent " in comment
    [environment] = kept(orca)

    second, comment, run_id = agent_runs(orca, another_issue(orca, scene), LOOK)
    assert second[0].splitlines() == [stamp, "yes", public_host.answer, "kept", "agent-has-no-token"]
    [phase] = setup_phases(orca, run_id)
    assert phase["cached"] is True
    events = RunStore(orca.redis).events(run_id)
    assert not [e for e in events if e["kind"] == "setup"]  # no setup command ran
    assert "environment kept from an earlier run" in comment
    assert kept(orca) == [environment]

    # The secret reached setup's commands and nothing else: not the agent, the transcript
    # (setup printed it: redacted), Redis, the logs, the data dir or GitHub.
    printed = [e["data"]["output"] for e in RunStore(orca.redis).events(first_run)
               if e["kind"] == "setup"]
    assert "the token is ***" in "".join(printed)
    places = evidence.places(caplog.records, "".join(capfd.readouterr()))
    assert leaks(places, {"setup token": token.encode()}) == []


def test_what_the_agent_does_to_its_environment_never_reaches_the_next_run(orca, public_host):
    public = public_host.far["public"]
    scene = make_scene(orca.github, files=repository(public))
    first, _comment, _run = agent_runs(orca, scene, LOOK)
    stamp = first[0].splitlines()[0]
    # In place (the same inode), replaced, deleted, and a file added.
    agent_runs(orca, another_issue(orca, scene, "Tamper"),
               f"printf tampered | dd of={MADE}/stamp conv=notrunc 2>/dev/null; "
               f"echo other > {MADE}/note.new && mv {MADE}/note.new {MADE}/note; "
               f"rm {MADE}/fetched; echo planted > {MADE}/planted; cat {MADE}/stamp")
    third, _comment, run_id = agent_runs(orca, another_issue(orca, scene, "Look again"),
                                         LOOK + f"; ls {MADE}")
    assert third[0].splitlines()[:5] == [stamp, "no", public_host.answer, "kept",
                                         "agent-has-no-token"]
    assert "planted" not in third[0] and setup_phases(orca, run_id)[0]["cached"] is True


def test_a_changed_lock_file_runs_setup_again(orca, public_host):
    public = public_host.far["public"]
    scene = make_scene(orca.github, files=repository(public))
    first, _comment, _run = agent_runs(orca, scene, LOOK)
    orca.github.push_commit(scene.full_name, "main", {"deps.lock": "probe==2\n"}, "Bump probe")
    second, comment, run_id = agent_runs(orca, another_issue(orca, scene), LOOK)
    assert second[0].splitlines()[0] != first[0].splitlines()[0]
    assert setup_phases(orca, run_id)[0]["cached"] is False
    assert "kept for later runs" in comment and len(kept(orca)) == 2


def test_a_branch_whose_lock_file_differs_gets_no_secret_no_network_and_keeps_nothing(
        orca, public_host, token):
    public = public_host.far["public"]
    scene = make_scene(orca.github, files=repository(public))
    github = orca.github
    github.push_commit(scene.full_name, "feature/deps", {"deps.lock": "probe==3\nevil==1\n"},
                       "Bump deps", start="main")
    number = github.add_pull(scene.full_name, "feature/deps", "main", "Bump deps", "", "octocat")
    results, comment, run_id = agent_runs(
        orca, scene, LOOK,
        deliver=lambda: command(orca, scene, number, "/agent look at the environment",
                                on_pull_request=True)[:2], number=number)
    _stamp, had_token, fetched, note, agent_env = results[0].splitlines()
    assert (had_token, fetched, note, agent_env) == ("no", "offline", "kept", "agent-has-no-token")
    [phase] = setup_phases(orca, run_id)
    assert (phase["trusted"], phase["network"], phase["kept"], phase["secrets"]) == (False, False, False, [])
    assert phase["differing"] == ["deps.lock"]
    assert kept(orca) == []


def test_without_a_network_for_it_setup_fails_with_a_comment_naming_the_cause(orca, monkeypatch):
    import jobs.sandbox
    import jobs.sandbox.network
    monkeypatch.setattr(jobs.sandbox.network, "TUN", Path("/dev/net/tun-not-here"))
    jobs.sandbox.bubblewrap_problem.cache_clear()
    try:
        scene = make_scene(orca.github, files=repository("198.51.100.1"))
        orca.deliver("issues", labeled_payload(orca.github, scene))
        orca.drain()
    finally:
        jobs.sandbox.bubblewrap_problem.cache_clear()
    [comment], _ = comments_on(orca.github, scene)
    assert comment.body.startswith("❌ Orca's run failed: setup runs with the network, and the "
                                   "worker cannot give it one: /dev/net/tun-not-here is missing")
    assert "fix the workers' sandbox network" in comment.body
    assert orca.model.requests == []


def test_a_secret_setup_writes_into_the_worktree_ends_the_run_before_the_agent(
        orca, public_host, token):
    extra = "  - echo \"//registry/:_authToken=$SETUP_TOKEN\" > .npmrc\n"
    files = repository(public_host.far["public"])
    files[".github/orca.yml"] = files[".github/orca.yml"].replace("setup_key:", extra + "setup_key:")
    scene = make_scene(orca.github, files=files)
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    [comment], _ = comments_on(orca.github, scene)
    assert comment.body.startswith("❌ Orca's run failed: setup left a setup-only secret in the "
                                   "repository's folder, where the agent would read it: "
                                   "SETUP_TOKEN in `.npmrc`.")
    assert token not in comment.body and orca.model.requests == [] and kept(orca) == []


def test_what_setup_made_is_never_committed_even_unignored(orca, public_host):
    files = repository(public_host.far["public"])
    del files[".gitignore"]  # nothing tells git to leave .env-made out
    scene = make_scene(orca.github, files=files)
    orca.model.script(
        reply(tool_use("bash", {"command": "echo '# Hello, world' > README.md"})),
        reply(text("Greeted the world.")), reply(text("Greeted the world in the README.")),
        looks_right())
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    [pull] = pulls(orca.github)
    head = pull.pull.head_ref
    assert orca.github.read_file(scene.full_name, head, "README.md") == "# Hello, world\n"
    assert orca.github.read_file(scene.full_name, head, f"{MADE}/stamp") is None
    review = orca.model.requests[2]["messages"][-1]["content"][0]["text"]
    assert "README.md" in review and MADE not in review  # nor shown for review


def test_setup_installs_from_a_package_index_the_agent_cannot_reach_and_the_next_run_has_it(
        orca, package_index):
    """The issue's case end to end: pip in setup reaches an index outside, the agent phase
    does not (no `network: true`), and a second run with the same lock file skips setup and
    finds the package installed."""
    package_index.add("orca-greeter", "1.0", "def greet():\n    return 'hi from the index'\n")
    setup = ("setup:\n  - python3 -m venv .venv\n"
             f"  - .venv/bin/pip install --timeout 5 {package_index.pip_options} "
             "-r requirements.txt\n")
    files = {"README.md": "# Hello\n", "requirements.txt": "orca-greeter==1.0\n",
             ".gitignore": ".venv/\n", ".github/orca.yml": setup}
    scene = make_scene(orca.github, files=files)
    use = ".venv/bin/python -c 'import orca_greeter; print(orca_greeter.greet())'"
    reach = (f".venv/bin/pip download --no-deps --timeout 2 --retries 0 -d /tmp/x "
             f"{package_index.pip_options} orca-greeter >/dev/null 2>&1 && echo reached "
             "|| echo unreachable")
    first, comment, first_run = agent_runs(orca, scene, use, reach)
    assert first == ["hi from the index", "unreachable"]
    assert "(network, kept for later runs)" in comment
    second, comment, run_id = agent_runs(orca, another_issue(orca, scene), use, reach)
    assert second == ["hi from the index", "unreachable"]
    assert setup_phases(orca, run_id)[0]["cached"] is True
    assert not [e for e in RunStore(orca.redis).events(run_id) if e["kind"] == "setup"]
    assert "environment kept from an earlier run" in comment
