"""The end of a run on its page: the diff of the commit it pushed, read from Orca's bare
mirror with real git after the worktree is gone, and what Orca's own test runs found."""

from __future__ import annotations

import subprocess

import pytest

from app.mission.verification import lines
from core.runs import RunStore, Status
from tests.mission_scene import (
    HELLO,
    add_run,
    mission_app,
    running_run,
    sign_in_as,
)

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@e", "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}


@pytest.fixture
def client(redis_client, tmp_path):
    client = mission_app(redis_client, tmp_path).test_client()
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    return client


def git(*args: str, cwd, stdin: str | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, text=True,
                          capture_output=True, input=stdin).stdout.strip()


def mirror_with_a_run_commit(tmp_path) -> tuple[str, str]:
    """Orca's bare mirror of octo-org/hello holding a base commit and, on it, a run's commit
    made as jobs.workspace.commit makes one (commit-tree, no worktree): (base, commit)."""
    seed = tmp_path / "seed"
    git("init", "-q", "-b", "main", str(seed), cwd=tmp_path)
    (seed / "hello.py").write_text("print('helo')\n")
    git("add", ".", cwd=seed)
    git("commit", "-q", "-m", "base", cwd=seed)
    mirror = tmp_path / "data" / "mirrors" / "octo-org" / "hello.git"
    git("clone", "-q", "--bare", str(seed), str(mirror), cwd=tmp_path)
    (seed / "hello.py").write_text("print('hello')  # <script>alert(1)</script>\n")
    git("add", ".", cwd=seed)
    git("commit", "-q", "-m", "the run's change", cwd=seed)
    git("push", "-q", str(mirror), "main:refs/heads/agent/issue-5", cwd=seed)
    return git("rev-parse", "main^", cwd=seed), git("rev-parse", "main", cwd=seed)


def finished_run(redis_client, run_id: str, base: str, commit: str | None) -> None:
    running_run(redis_client, run_id)
    store = RunStore(redis_client)
    store.add_event(run_id, "workspace", {"branch": "agent/issue-5", "base_sha": base})
    store.add_event(run_id, "tests", {"at": "base", "cached": True, "command": "pytest -q",
                                      "passed": True, "exit_code": 0, "timed_out": False,
                                      "seconds": 2.04, "counts": "3 passed"})
    store.add_event(run_id, "tests", {"at": "after", "regressed": False, "command": "pytest -q",
                                      "passed": True, "exit_code": 0, "timed_out": False,
                                      "seconds": 2.51, "counts": "4 passed"})
    outcome = {"commit": commit, "branch": "agent/issue-5"} if commit else {}
    store.finish(run_id, Status.DONE, **outcome)


def test_an_ended_run_shows_the_diff_of_its_commit_from_the_mirror(client, redis_client,
                                                                    tmp_path):
    base, commit = mirror_with_a_run_commit(tmp_path)
    finished_run(redis_client, "end1", base, commit)
    page = client.get("/runs/end1").text
    shown = page.split('<pre id="final-diff"')[1].split("</pre>")[0]
    assert "hello.py | 2 +-" in shown
    assert "-print(&#39;helo&#39;)" in shown and "+print(&#39;hello&#39;)" in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "<script>alert" not in page
    assert f"<code>{commit[:12]}</code>" in page and "<code>agent/issue-5</code>" in page
    text = client.get("/runs/end1/diff")
    assert text.mimetype == "text/plain" and "+print('hello')  # <script>" in text.text
    assert "Diff so far" not in page  # no worktree: the page does not offer one


def test_the_diff_at_the_end_is_cut_and_says_so_without_a_mirror(client, redis_client, tmp_path):
    base, commit = mirror_with_a_run_commit(tmp_path)
    big = tmp_path / "seed" / "big.txt"
    big.write_text("".join(f"line {n}\n" for n in range(40_000)))
    git("add", ".", cwd=big.parent)
    git("commit", "-q", "-m", "big", cwd=big.parent)
    git("push", "-q", str(tmp_path / "data/mirrors/octo-org/hello.git"), "main:refs/heads/big",
        cwd=big.parent)
    finished_run(redis_client, "big1", commit, git("rev-parse", "main", cwd=big.parent))
    page = client.get("/runs/big1").text
    assert "… cut at 64 KB" in page
    assert len(client.get("/runs/big1/diff").text) > 200_000  # the plain text goes on
    finished_run(redis_client, "gone1", base, "ab" * 20)  # a commit this mirror lacks
    assert "is not in Orca&#39;s mirror of the repository" in client.get("/runs/gone1").text


def test_the_verification_is_in_the_summary(client, redis_client, tmp_path):
    base, commit = mirror_with_a_run_commit(tmp_path)
    finished_run(redis_client, "end1", base, commit)
    summary = client.get("/runs/end1").text.split('<div id="verification">')[1].split("</div>")[0]
    assert "Orca ran <code>pytest -q</code>" in summary
    assert ("At the base commit: 3 passed · exit 0 · 2.0 s (kept from an earlier run on the "
            "same commit).") in summary
    assert "On the change: 4 passed · exit 0 · 2.5 s." in summary
    assert "No regression against the base." in summary


BASE = {"at": "base", "command": "pytest -q", "passed": True, "exit_code": 0,
        "timed_out": False, "seconds": 1.0, "counts": "2 passed"}
AFTER = {"at": "after", "command": "pytest -q", "passed": False, "exit_code": 1,
         "timed_out": False, "seconds": 1.5, "counts": "1 failed, 1 passed", "regressed": True}


@pytest.mark.parametrize("base, result, ended, expected", [
    (None, None, False, (None, [])),
    (None, None, True, (None, ["Orca ran no tests of its own on this run."])),
    (BASE, None, False, ("pytest -q", ["At the base commit: 2 passed · exit 0 · 1.0 s.",
                                       "Not yet run on the change."])),
    (BASE, None, True, ("pytest -q", ["At the base commit: 2 passed · exit 0 · 1.0 s.",
                                      "The run ended before Orca ran them on the change."])),
    (BASE, AFTER, True, ("pytest -q", [
        "At the base commit: 2 passed · exit 0 · 1.0 s.",
        "On the change: 1 failed, 1 passed · exit 1 · 1.5 s.",
        "A regression against the base: what passed there fails now."])),
    (None, {**AFTER, "regressed": False, "timed_out": True, "counts": None}, True,
     ("pytest -q", ["On the change: failed · timed out · 1.5 s."])),
    (None, {"at": "head", "command": "npm test", "passed": True, "exit_code": 0,
            "seconds": 9.0, "counts": None}, True,
     ("npm test", ["At the pull request's head: passed · exit 0 · 9.0 s."])),
])
def test_the_verification_in_words(base, result, ended, expected):
    assert lines(base, result, ended) == expected


def test_the_verification_is_the_winning_attempts(client, redis_client):
    running_run(redis_client, "att1", attempts=2, winner=2)
    store = RunStore(redis_client)
    for attempt, counts in ((1, "1 failed"), (2, "5 passed")):
        store.add_event("att1", "tests", {**AFTER, "regressed": False, "counts": counts,
                                          "attempt": attempt})
    store.add_event("att1", "tests", {**AFTER, "counts": "9 failed", "attempt": 1})
    page = client.get("/runs/att1").text
    summary = page.split('<div id="verification">')[1].split("</div>")[0]
    assert "On the change: 5 passed" in summary and "failed" not in summary


def test_a_tests_event_reads_as_words_in_the_transcript(client, redis_client):
    running_run(redis_client, "t1")
    RunStore(redis_client).add_event("t1", "tests", {**AFTER, "attempt": 2})
    html = "".join(e["html"] for e in client.get("/runs/t1/events?after=0").json["events"])
    assert ("attempt 2 · tests on the change: pytest -q · 1 failed, 1 passed · exit 1 · 1.5 s"
            " · a regression against the base") in html


def test_the_verification_follows_a_long_run_as_its_page_is_rendered_again(client,
                                                                           redis_client):
    running_run(redis_client, "long1")
    store = RunStore(redis_client)
    store.add_event("long1", "tests", {**BASE, "cached": False})

    def verification() -> str:
        page = client.get("/runs/long1/events?after=0").json["summary"]
        return page.split('<div id="verification">')[1].split("</div>")[0]

    assert "Not yet run on the change." in verification()
    for burst in range(4):  # 800 tool calls, read 200 at a time as the page follows
        pipe = redis_client.pipeline()
        for n in range(200):
            store._queue_event(pipe, "long1", "tool", {"name": "bash", "input": {"command": "x"},
                                                       "output": f"{burst}.{n}"})
        pipe.execute()
        assert "At the base commit: 2 passed" in verification()
    store.add_event("long1", "tests", AFTER)
    for _ in range(600):
        store.add_event("long1", "note", {})
    assert "A regression against the base" in verification()  # 600 new: read from both ends
    store.add_event("long1", "tests", {**AFTER, "at": "final", "regressed": False,
                                       "counts": "2 passed"})
    said = verification()
    assert "On the change: 2 passed" in said and "No regression against the base." in said


def test_a_queued_run_without_events_says_nothing_of_tests(client, redis_client):
    add_run(redis_client, "q1")
    page = client.get("/runs/q1").text
    assert 'id="verification"' not in page and client.get("/runs/q1").status_code == 200


def test_the_last_news_of_a_followed_run_brings_its_diff_at_the_end(client, redis_client,
                                                                   tmp_path):
    base, commit = mirror_with_a_run_commit(tmp_path)
    running_run(redis_client, "end1")
    assert "diff_area" not in client.get("/runs/end1/events?after=0").json  # still running
    finished_run(redis_client, "end1", base, commit)
    news = client.get("/runs/end1/events?after=0").json
    assert news["active"] is False and "+print(&#39;hello&#39;)" in news["diff_area"]
