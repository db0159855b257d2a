"""Several attempts at once (#18): they run side by side from one base commit, the evidence
picks the pull request, the others stay on branches, and `/agent use attempt <k>` switches."""

from __future__ import annotations

import re
import subprocess
import time

from core.runs import RunStore
from tests import payloads
from tests.e2e.conftest import labeled_payload, make_scene, pulls
from tests.e2e.conversation_scenes import (
    BackgroundRuns,
    bodies,
    command,
    drain_fast,
    repo_spec,
    wait_for,
)
from tests.fakes.model import error, looks_right, reply, text, tool_use
from tests.fakes.model_conversations import Attempts

CALC = "def add(a, b):\n    return a + b\n"
TEST = ("import unittest\n\nfrom calc import add\n\n\nclass Add(unittest.TestCase):\n"
        "    def test_two_and_two(self):\n        self.assertEqual(add(2, 2), 4)\n")
FILES = {"calc.py": CALC, "tests/__init__.py": "", "tests/test_calc.py": TEST,
         ".github/orca.yml": "test: python3 -m unittest discover -s tests -t .\n"}
BROKEN = "def add(a, b):\n    return a - b\n"
LARGE = "def add(a, b):\n" + "".join(f"    # step {i}\n" for i in range(30)) + "    return a + b\n"
SMALL = "def add(a, b):\n    return b + a\n"


def writes(content: str, script: int) -> dict:
    return tool_use("str_replace_based_edit_tool", {
        "command": "str_replace", "path": "/workspace/calc.py", "old_str": CALC, "new_str": content},
        id=f"toolu_s{script}_first")


def attempt_script(content: str, script: int, *after) -> list:
    return [reply(writes(content, script)), reply(text("Done.")),
            *(after or [reply(text(f"Wrote attempt {script}."))])]


def tie(prompt: str) -> str:
    numbers = re.findall(r'<attempt number="(\d+)">', prompt)
    return f"TIE: {', '.join(numbers)}\nBoth keep the tests green."


def read_file(github, scene, ref, path="calc.py") -> str:
    return github.read_file(scene.full_name, ref, path)


def branches(github, scene) -> list[str]:
    out = subprocess.run(["git", "for-each-ref", "--format=%(refname:short)", "refs/heads/agent/"],
                         cwd=github.git_dir(scene.full_name), capture_output=True, text=True,
                         check=True).stdout
    return sorted(out.split())


def test_three_attempts_the_evidence_picks_the_small_passing_one(orca):
    scene = make_scene(orca.github, files=FILES)
    answers = Attempts([attempt_script(BROKEN, 0, reply(text("Done.")), reply(text("Leaving it."))),
                        attempt_script(LARGE, 1), attempt_script(SMALL, 2)], judge=tie)
    orca.model.respond_with(answers)
    status, _, _ = command(orca, scene, scene.number, "/agent make add() clearer --attempts 3")
    assert status == 202
    orca.drain()

    [pull] = pulls(orca.github)
    assert read_file(orca.github, scene, pull.pull.head_ref) == SMALL
    assert pull.pull.draft is False
    body = pull.body
    assert "## Attempts" in body and "3 attempts from the same base commit" in body
    rows = {int(m[1]): m[0] for m in re.finditer(r"^\| \**(\d+)\**.*$", body, re.MULTILINE)}
    by_content = {read_file(orca.github, scene, f"agent/attempts/{scene.number}/{k}"): k
                  for k in (1, 2, 3)}
    small, large, broken = by_content[SMALL], by_content[LARGE], by_content[BROKEN]
    assert "(this pull request)" in rows[small] and "✅ passed" in rows[small]
    assert "+1 −1" in rows[small] and "+30 −0" in rows[large]
    assert "❌" in rows[broken]
    assert f"attempt {small} is this pull request" in body
    assert "the smaller diff won" in body and "Both keep the tests green." in body
    # the judge saw only the two attempts without a regression
    [judged] = answers.judge_prompts
    assert sorted(re.findall(r'<attempt number="(\d+)">', judged)) == sorted([str(small), str(large)])
    assert branches(orca.github, scene) == sorted(
        [pull.pull.head_ref] + [f"agent/attempts/{scene.number}/{k}" for k in (1, 2, 3)])
    tracking = bodies(orca.github, scene.full_name, scene.number)[-1]
    assert tracking.startswith(f"✅ Opened #{pull.number}") and "## Attempts" in tracking
    assert orca.github.violations == []

    # `/agent use attempt <k>` moves the pull request with a new commit on top: no force-push.
    before = orca.github.branch_sha(scene.full_name, pull.pull.head_ref)
    command(orca, scene, pull.number, f"/agent use attempt {large}", on_pull_request=True)
    orca.drain()
    assert read_file(orca.github, scene, pull.pull.head_ref) == LARGE
    after = orca.github.branch_sha(scene.full_name, pull.pull.head_ref)
    parent = subprocess.run(["git", "rev-parse", f"{after}^"], cwd=orca.github.git_dir(scene.full_name),
                            capture_output=True, text=True, check=True).stdout.strip()
    assert parent == before
    assert bodies(orca.github, scene.full_name, pull.number)[-1].startswith(
        f"✅ Moved #{pull.number} to attempt {large}")

    # Closing (or merging) the pull request deletes the kept attempts, and only them.
    closed = payloads.build("pull_request", "closed", base_url=orca.github.base_url,
                            installation_id=scene.installation_id, repo=repo_spec(scene),
                            sender_id=scene.requester["id"], issue={"number": pull.number})
    orca.deliver("pull_request", closed)
    orca.drain()
    assert branches(orca.github, scene) == [pull.pull.head_ref]
    assert orca.github.violations == []


def test_a_failing_attempt_does_not_sink_the_others_and_the_config_asks_for_attempts(orca):
    files = {**FILES, ".github/orca.yml": FILES[".github/orca.yml"] + "attempts: 2\n"}
    scene = make_scene(orca.github, files=files)
    failing = [reply(writes(SMALL, 0)), error(400, message="prompt is too long")]
    orca.model.respond_with(Attempts([failing, attempt_script(LARGE, 1)]))
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()

    [pull] = pulls(orca.github)
    assert read_file(orca.github, scene, pull.pull.head_ref) == LARGE
    assert "It is the only attempt without a test regression." not in pull.body
    assert "It is the only attempt that changed files." in pull.body
    failed_row = next(line for line in pull.body.splitlines() if "failed:" in line)
    assert "The model API answered 400" in failed_row


def test_attempts_out_of_bounds_are_refused_and_start_nothing(orca):
    scene = make_scene(orca.github, files=FILES)
    command(orca, scene, scene.number, "/agent make add() clearer --attempts 9")
    orca.drain()
    said = bodies(orca.github, scene.full_name, scene.number)[-1]
    assert said.startswith("🚫 Orca cannot do this: 9 attempts were asked for; this Orca makes "
                           "2 to 3 at once (ORCA_MAX_ATTEMPTS).")
    assert orca.model.requests == [] and pulls(orca.github) == []


def test_use_attempt_on_a_pull_request_without_attempts_says_so(orca):
    scene = make_scene(orca.github, files=FILES)
    orca.model.script(reply(writes(SMALL, 0)), reply(text("Done.")), reply(text("Swapped.")),
                      looks_right())
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    [pull] = pulls(orca.github)
    command(orca, scene, pull.number, "/agent use attempt 2", on_pull_request=True)
    orca.drain()
    said = bodies(orca.github, scene.full_name, pull.number)[-1]
    assert said.startswith("❌ Orca's run failed: this pull request has no attempt 2 (no branch "
                           f"`agent/attempts/{scene.number}/2`).")


def test_agent_stop_stops_every_attempt(orca):
    scene = make_scene(orca.github, files=FILES)
    slow = [reply(tool_use("bash", {"command": "sleep 60"}, id=f"toolu_s{k}_first")) for k in range(3)]
    orca.model.respond_with(Attempts([[step] for step in slow]))
    command(orca, scene, scene.number, "/agent make add() clearer --attempts 3")
    drain_fast(orca)
    runs = BackgroundRuns(orca).start()
    wait_for(lambda: len(orca.model.requests) >= 3, what="three attempts' `sleep 60`")
    time.sleep(0.5)  # the three commands under way
    command(orca, scene, scene.number, "/agent stop")
    drain_fast(orca)
    runs.join(timeout=30)

    [run_id] = RunStore(orca.redis).runs_on(f"{scene.full_name}#{scene.number}")
    assert RunStore(orca.redis).get(run_id)["status"] == "cancelled"
    assert pulls(orca.github) == [] and branches(orca.github, scene) == []
    tracking = [b for b in bodies(orca.github, scene.full_name, scene.number) if "Run `" in b]
    assert tracking[0].startswith("⏹️") or "stopped" in tracking[0].lower(), tracking[0]
