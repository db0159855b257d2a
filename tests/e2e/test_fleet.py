"""The fleet: 20 runs across 3 installations, caps of 2 per installation and 4 overall.

Real `orca worker` processes (one for acknowledgements, four for runs, as `orca up` starts
them with ORCA_MAX_RUNS=4), the fake model taking a while per turn. The caps are checked
from the runs' own recorded events, the places in line from the tracking comments.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest

from core.runs import RunStore
from jobs.github.report import ordinal
from tests.e2e.conftest import HELLO_FILES, Orca, Scene, labeled_payload, pulls
from tests.e2e.conversation_scenes import wait_for
from tests.fakes.model import reply, text, tool_use

ORCA = [sys.executable, "-m", "app.cli"]
PER_INSTALLATION, OVERALL = 2, 4
WRITE_INTERVAL = 0.2
ISSUES = {"org-a": 7, "org-b": 7, "org-c": 6}
ENDINGS = ("finished", "failed", "cancelled")


def fleet_scenes(orca: Orca) -> list[Scene]:
    """Three installations, each with one repository and its issues, in delivery order
    (round-robin over the organisations, as requests would come from a busy morning)."""
    github = orca.github
    requester = github.add_user("octocat")
    by_org: dict[str, list[Scene]] = {}
    for org, count in ISSUES.items():
        installation_id = github.add_installation(org)
        repo = github.add_repo(f"{org}/hello", installation_id, files=HELLO_FILES, private=True)
        github.set_permission(f"{org}/hello", "octocat", "write")
        by_org[org] = [Scene(installation_id, repo, github.add_issue(
            f"{org}/hello", "Fix the greeting typo", "greet() says helo.", "octocat",
            labels=["agent"]), requester) for _ in range(count)]
    order = []
    while any(by_org.values()):
        for scenes in by_org.values():
            if scenes:
                order.append(scenes.pop(0))
    return order


def fix_then_finish(body: dict[str, Any]) -> Any:
    """Each run's own conversation: one edit, then done (and done again at the diff review)."""
    answered = sum(1 for message in body["messages"] if message["role"] == "user"
                   and isinstance(message["content"], list)
                   and any(block.get("type") == "tool_result" for block in message["content"]))
    if answered == 0:
        return reply(tool_use("str_replace_based_edit_tool", {
            "command": "str_replace", "path": "/workspace/hello.py",
            "old_str": "'helo, world'", "new_str": "'hello, world'"}))
    return reply(text("Fixed the greeting."))


def start_workers(queue: str, count: int, cwd) -> list[subprocess.Popen]:
    return [subprocess.Popen([*ORCA, "worker", "--queues", queue], env=dict(os.environ), cwd=cwd,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True) for _ in range(count)]


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def tracking_comment(orca: Orca, scene: Scene) -> str:
    issue = orca.github.state.issues[(scene.repo["id"], scene.number)]
    [comment] = [c for c in orca.github.state.comments.values() if c.issue is issue]
    return comment.body


def expected_places(installations: list[int]) -> list[str]:
    """What each run's comment says when nothing has started: the first two of each
    installation hold its slots and wait for a worker, in the order they came; the others
    wait for one of their installation's slots, in the order they came."""
    held: Counter[int] = Counter()
    waiting_for_slot: Counter[int] = Counter()
    workers_line = 0
    places = []
    for installation in installations:
        held[installation] += 1
        if held[installation] <= PER_INSTALLATION:
            workers_line += 1
            places.append(f"**{ordinal(workers_line)}** in line for a free run worker")
        else:
            waiting_for_slot[installation] += 1
            places.append(f"**{ordinal(waiting_for_slot[installation])}** in line for the next "
                          "free slot")
    return places


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of (start, end) spans that overlap at any moment."""
    moments = sorted([(end, -1) for _, end in spans] + [(start, 1) for start, _ in spans])
    now = peak = 0
    for _, change in moments:
        now += change
        peak = max(peak, now)
    return peak


@pytest.fixture
def fleet_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCA_MAX_RUNS", str(OVERALL))
    monkeypatch.setenv("ORCA_MAX_RUNS_PER_INSTALLATION", str(PER_INSTALLATION))
    monkeypatch.setenv("ORCA_GITHUB_WRITE_INTERVAL", str(WRITE_INTERVAL))


def test_twenty_runs_on_three_installations_keep_to_the_caps(orca: Orca, fleet_settings: None,
                                                             tmp_path) -> None:
    github, model, store = orca.github, orca.model, RunStore(orca.redis)
    scenes = fleet_scenes(orca)
    model.delay = 0.3
    model.respond_with(fix_then_finish)
    run_ids = []
    for scene in scenes:
        status, answer = orca.deliver("issues", labeled_payload(github, scene))
        assert status == 202
        run_ids.append(answer["run"])

    # Acknowledgements only: every run waits, and its comment says where.
    workers = start_workers("fast", 1, tmp_path)
    try:
        wait_for(lambda: all(store.get(r).get("place") for r in run_ids), timeout=60,
                 what="every run to show its place")
        places = expected_places([s.installation_id for s in scenes])
        for scene, place in zip(scenes, places, strict=True):
            assert place in tracking_comment(orca, scene), (scene, tracking_comment(orca, scene))

        workers += start_workers("runs", OVERALL, tmp_path)
        wait_for(lambda: all(store.get(r)["status"] in ("done", "failed") for r in run_ids),
                 timeout=120, what="every run to end")
    finally:
        stop_workers(workers)

    assert [store.get(r)["status"] for r in run_ids] == ["done"] * len(run_ids)
    assert len(pulls(github)) == len(run_ids)
    for scene in scenes:
        assert tracking_comment(orca, scene).startswith("✅ Opened #")

    events = {r: store.events(r) for r in run_ids}
    spans = {r: (next(e["at"] for e in evs if e["kind"] == "started"),
                 next(e["at"] for e in evs if e["kind"] in ENDINGS)) for r, evs in events.items()}
    installation_of = {r: s.installation_id for r, s in zip(run_ids, scenes)}
    assert most_at_once(list(spans.values())) == OVERALL
    for installation in {s.installation_id for s in scenes}:
        mine = [span for r, span in spans.items() if installation_of[r] == installation]
        assert most_at_once(mine) == PER_INSTALLATION

    # Places moved up as runs ahead started and ended: a run's place only ever improves,
    # from its installation's line to the workers' line, and the last ones saw it happen.
    for run_id, evs in events.items():
        shown = [(e["data"]["line"] == "workers", -e["data"]["position"]) for e in evs
                 if e["kind"] == "place"]
        assert shown == sorted(shown) and len(set(shown)) == len(shown), (run_id, shown)
    last_of_each = [run_ids[max(i for i, s in enumerate(scenes) if s.installation_id == inst)]
                    for inst in installation_of.values()]
    for run_id in last_of_each:
        assert sum(e["kind"] == "place" for e in events[run_id]) >= 3, events[run_id]

    # One installation's writes never closer than the pacing interval, whichever run wrote.
    owner_writes: dict[str, list[float]] = {}
    for call in github.calls:
        parts = call.path.split("/")
        if call.method != "GET" and parts[3:4] == ["repos"]:
            owner_writes.setdefault(parts[4], []).append((call.at, f"{call.method} {call.path}"))
    for owner, writes in owner_writes.items():
        writes.sort()
        gaps = [(b[0] - a[0], a[1], b[1]) for a, b in itertools.pairwise(writes)]
        # Paced is when a write is sent; its arrival may lag by a busy machine's scheduling.
        assert min(gaps)[0] >= WRITE_INTERVAL / 2, (owner, min(gaps))
    assert github.violations == [] and model.violations == []
