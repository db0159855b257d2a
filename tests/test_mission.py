"""Mission control's pages through Flask's test client, with a real Redis and real RQ queues."""

from __future__ import annotations

import pytest
from rq import Queue, Worker

from core.queues import FAST_QUEUE, RUNS_QUEUE, installation_slots
from core.runs import RunStore
from tests.mission_scene import (
    ADMIN_TOKEN,
    HELLO,
    SECRET_REPO,
    add_run,
    csrf_of,
    mission_app,
    running_run,
    sign_in_as,
)


@pytest.fixture
def client(redis_client, tmp_path):
    return mission_app(redis_client, tmp_path).test_client()


def shown(page) -> list[str]:
    """The run ids a list page shows, top to bottom."""
    import re
    return re.findall(r'<tr id="run-([0-9a-z]+)"', page.text)


def test_the_list_needs_a_signed_in_viewer(client):
    answer = client.get("/runs?status=running")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/auth/signin?next=/runs?status%3Drunning"


def test_newest_first_and_filters(client, redis_client):
    add_run(redis_client, "old1", status="done", pr_url="https://github.com/octo-org/hello/pull/9",
            pr_number=9, turns=5, tokens=1234, cost=0.5, finished_at=None)
    add_run(redis_client, "mid2", repo=SECRET_REPO, status="failed", installation_id=8)
    add_run(redis_client, "new3", status="running")
    sign_in_as(client, redis_client, "octocat", {HELLO[1], SECRET_REPO[1]})

    everything = client.get("/runs")
    assert shown(everything) == ["new3", "mid2", "old1"]
    assert 'href="https://github.com/octo-org/hello/pull/9">#9</a>' in everything.text
    assert shown(client.get("/runs?status=done")) == ["old1"]
    assert shown(client.get("/runs?repository=OTHER-org/secret")) == ["mid2"]
    assert shown(client.get("/runs?installation=7")) == ["new3", "old1"]
    assert shown(client.get("/runs?installation=7&status=failed")) == []
    assert shown(client.get("/runs?status=nonsense")) == ["new3", "mid2", "old1"]


def test_a_person_sees_only_runs_in_repositories_they_can_read(client, redis_client):
    add_run(redis_client, "mine1")
    add_run(redis_client, "hidden", repo=SECRET_REPO)
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    assert shown(client.get("/runs")) == ["mine1"]
    assert client.get("/runs/hidden").status_code == 404
    assert client.get("/runs/hidden/events").status_code == 404
    assert client.get("/runs/hidden/diff").status_code == 404
    assert client.get("/runs/mine1").status_code == 200


def test_an_operator_sees_everything(client, redis_client):
    add_run(redis_client, "mine1")
    add_run(redis_client, "other", repo=SECRET_REPO)
    page = client.get("/auth/signin")
    answer = client.post("/auth/admin", data={"csrf_token": csrf_of(page.text),
                                              "token": ADMIN_TOKEN, "next": "/runs"})
    assert (answer.status_code, answer.headers["Location"]) == (303, "/runs")
    assert shown(client.get("/runs")) == ["other", "mine1"]


def test_a_wrong_operator_token_is_refused(client, redis_client):
    page = client.get("/auth/signin")
    answer = client.post("/auth/admin", data={"csrf_token": csrf_of(page.text), "token": "guess"})
    assert answer.status_code == 403
    assert client.get("/runs").status_code == 302


def test_queued_runs_show_their_place_in_the_queue(client, redis_client):
    fast, runs = Queue(FAST_QUEUE, connection=redis_client), Queue(RUNS_QUEUE, connection=redis_client)
    for run_id in ("a1", "b2", "c3"):
        add_run(redis_client, run_id)
    fast.enqueue("jobs.run.acknowledge", job_id="ack-a1")
    add_run(redis_client, "d4")
    slots = installation_slots(1, 2)
    runs.enqueue("jobs.run.execute", job_id="run-b2", rate_limit=slots)
    runs.enqueue("jobs.run.execute", job_id="run-c3", rate_limit=slots)
    runs.enqueue("jobs.run.execute", job_id="run-d4", rate_limit=slots)  # past the cap
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    page = client.get("/runs").text

    def place(run_id: str) -> str:
        return page.split(f'id="run-{run_id}"')[1].split("</tr>")[0]

    assert "<td>#1 to be acknowledged</td>" in place("a1")
    assert "<td>#2 for a worker</td>" in place("c3")
    assert "<td>#1 for an installation slot</td>" in place("d4")


def test_a_running_run_shows_its_live_figures_and_budget(client, redis_client):
    running_run(redis_client, "live1")
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    row = client.get("/runs").text.split('id="run-live1"')[1].split("</tr>")[0]
    assert ">4,321<" in row and "$0.12" in row
    page = client.get("/runs/live1").text
    assert "4,321 of 1,000,000" in page and "$0.12 of $10.00" in page and "1 of 60" in page


def test_the_events_endpoint_gives_only_new_events(client, redis_client):
    running_run(redis_client, "live1")
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    first = client.get("/runs/live1/events?after=0").json
    assert [e["html"].count("event-budget") for e in first["events"]] == [1, 0]
    RunStore(redis_client).add_event("live1", "tool", {"name": "bash", "input": {"command": "make <x>"},
                                                       "is_error": False, "output": "<b>ok</b>"})
    later = client.get(f"/runs/live1/events?after={first['last']}").json
    assert len(later["events"]) == 1 and later["active"] is True
    assert "$ make &lt;x&gt;" in later["events"][0]["html"]  # escaped, never markup
    assert "&lt;b&gt;ok&lt;/b&gt;" in later["events"][0]["html"]


def test_stop_without_the_csrf_token_changes_nothing(client, redis_client):
    running_run(redis_client, "live1")
    sign_in_as(client, redis_client, "octocat", {HELLO[1]}, writable={HELLO[1]})
    assert "stop-button" in client.get("/runs/live1").text
    for form in ({}, {"csrf_token": "forged"}):
        answer = client.post("/runs/live1/stop", data=form)
        assert 400 <= answer.status_code < 500
    record = RunStore(redis_client).get("live1")
    assert record["status"] == "running" and "stop" not in record


def test_stop_needs_write_access(client, redis_client):
    running_run(redis_client, "live1")
    sign_in_as(client, redis_client, "reader", {HELLO[1]})
    page = client.get("/runs/live1").text
    assert "stop-button" not in page
    answer = client.post("/runs/live1/stop", data={"csrf_token": csrf_of(page)})
    assert answer.status_code == 403
    assert "stop" not in RunStore(redis_client).get("live1")


def test_stop_a_queued_run(client, redis_client):
    add_run(redis_client, "q1")
    Queue(RUNS_QUEUE, connection=redis_client).enqueue("jobs.run.execute", job_id="run-q1")
    sign_in_as(client, redis_client, "octocat", {HELLO[1]}, writable={HELLO[1]})
    page = client.get("/runs/q1").text
    answer = client.post("/runs/q1/stop", data={"csrf_token": csrf_of(page)})
    assert (answer.status_code, answer.headers["Location"]) == (303, "/runs/q1")
    record = RunStore(redis_client).get("q1")
    assert record["status"] == "cancelled" and record["stop"]["by"] == "octocat"
    assert "run-q1" not in Queue(RUNS_QUEUE, connection=redis_client).job_ids
    assert "Stop requested by octocat." in client.get("/runs/q1").text


def test_the_diff_so_far_comes_from_the_worktree(client, redis_client, tmp_path):
    import subprocess

    from jobs.workspace import keep_index

    mirror = tmp_path / "data" / "mirrors" / "octo-org" / "hello.git"
    seed = tmp_path / "seed"
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@e", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    for args, cwd in ((["init", "-q", "-b", "main", str(seed)], tmp_path),
                      (["commit", "-q", "--allow-empty", "-m", "base"], seed),
                      (["clone", "-q", "--bare", str(seed), str(mirror)], tmp_path)):
        subprocess.run(["git", *args], cwd=cwd, env=env, check=True)
    (seed / "a.txt").write_text("x\n")
    worktree = tmp_path / "data" / "worktrees" / "wt1"
    subprocess.run(["git", "worktree", "add", "-q", str(worktree), "main"], cwd=mirror, env=env,
                   check=True)
    keep_index(mirror / "worktrees" / "wt1", worktree)  # as jobs.workspace does at checkout
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=mirror, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()
    (worktree / "new.py").write_text("print('hi')\n")
    running_run(redis_client, "wt1")
    RunStore(redis_client).add_event("wt1", "workspace", {"branch": "main", "base_sha": base})
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    text = client.get("/runs/wt1/diff").text
    assert "New files, not yet in the diff above:\n  new.py" in text


def test_an_operator_stops_a_running_run(client, redis_client):
    running_run(redis_client, "live1", repo=SECRET_REPO)
    form = client.get("/auth/signin").text
    client.post("/auth/admin", data={"csrf_token": csrf_of(form), "token": ADMIN_TOKEN})
    page = client.get("/runs/live1").text
    assert client.post("/runs/live1/stop", data={"csrf_token": csrf_of(page)}).status_code == 303
    record = RunStore(redis_client).get("live1")
    # A running run is flagged; its own worker notices, stops and reports it.
    assert record["status"] == "running"
    assert record["stop"]["by"] == "operator"
    assert record["stop"]["reason"] == "an operator stopped it from mission control"
    assert "Stop requested by operator; the run is stopping." in client.get("/runs/live1").text


def test_a_review_run_links_its_review(client, redis_client):
    review = "https://github.com/octo-org/hello/pull/9#pullrequestreview-77"
    add_run(redis_client, "rev1", status="done", kind="pr_review", review_url=review, findings=3)
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    assert f'<a href="{review}">review</a>' in client.get("/runs").text
    page = client.get("/runs/rev1").text
    assert f'<a id="review-link" href="{review}">{review}</a> (3 findings)' in page


def test_the_list_says_when_no_worker_takes_the_queued_work(client, redis_client):
    fast, runs = Queue(FAST_QUEUE, connection=redis_client), Queue(RUNS_QUEUE, connection=redis_client)
    add_run(redis_client, "a1")
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    assert 'id="no-worker"' not in client.get("/runs").text  # nothing waits: nothing to say
    fast.enqueue("jobs.run.acknowledge", job_id="ack-a1")
    runs.enqueue("jobs.run.execute", job_id="run-b2")
    assert ("No worker is running: 2 jobs wait in the queues, and queued runs will not start "
            "until one does.") in client.get("/runs").text
    only_runs = Worker([runs], connection=redis_client)
    only_runs.register_birth()
    try:
        assert ("No worker takes from the fast queue, where 1 job waits: start one with "
                "<code>orca worker --queues fast</code>") in client.get("/runs").text
        both = Worker([fast, runs], connection=redis_client)
        both.register_birth()
        assert 'id="no-worker"' not in client.get("/runs").text
        both.register_death()
        assert 'id="no-worker"' in client.get("/runs").text  # a worker gone is gone
    finally:
        only_runs.register_death()


def test_the_repository_column_names_the_installation_in_words(client, redis_client):
    add_run(redis_client, "a1")
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    row = client.get("/runs").text.split('id="run-a1"')[1].split("</tr>")[0]
    assert ">installation 7</a>" in row and ">#7<" not in row


def test_a_run_page_reads_as_a_transcript(client, redis_client):
    running_run(redis_client, "read1")
    store = RunStore(redis_client)
    store.add_event("read1", "model", {
        "turn": 2, "stop_reason": "tool_use", "dollars": 0.0345,
        "spent": {"turns": 2, "tokens": 9000, "dollars": 0.1545, "minutes": 1.0},
        "text": "I'll run the tests.\n<script>alert(1)</script> <b>bold</b>"})
    store.add_event("read1", "tool", {"name": "bash", "input": {"command": "pytest -q"},
                                      "is_error": False, "exit_code": 1, "output": "1 failed"})
    store.add_event("read1", "tool", {"name": "str_replace_based_edit_tool",
                                      "input": {"command": "view", "path": "a.py"},
                                      "is_error": False, "exit_code": None, "output": "x"})
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    for html in (client.get("/runs/read1").text,
                 "".join(e["html"] for e in client.get("/runs/read1/events?after=0").json["events"])):
        # The turn's text, escaped: the model's words are never markup.
        assert "I&#39;ll run the tests.\n&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold" in html
        assert "<script>alert(1)" not in html and "<b>bold" not in html
        assert "turn 2 (tool_use) · $0.0345 this turn · so far 9,000 tokens · $0.15" in html
        assert "bash: $ pytest -q · exit 1" in html
        assert "view a.py</span>" in html  # a tool without a process shows no exit status
    # Turns recorded before the per-turn cost was kept read as before.
    assert "turn 1 (tool_use) · so far 4,321 tokens · $0.12" in client.get("/runs/read1").text


def test_an_operator_sees_a_failures_cause_and_everyone_else_its_words(client, redis_client):
    generic = "something unexpected went wrong inside Orca"
    add_run(redis_client, "bad1", status="failed", reason=generic)
    RunStore(redis_client).add_event("bad1", "failed", {
        "reason": generic, "error": "KeyError('base_sha')"})
    sign_in_as(client, redis_client, "octocat", {HELLO[1]})
    page = client.get("/runs/bad1").text
    assert generic in page and "KeyError" not in page and 'id="run-cause"' not in page
    assert "KeyError" not in client.get("/runs/bad1/events?after=0").text
    client.get("/auth/signout")
    form = client.get("/auth/signin").text
    client.post("/auth/admin", data={"csrf_token": csrf_of(form), "token": ADMIN_TOKEN})
    page = client.get("/runs/bad1").text
    assert ('<p id="run-cause">Cause, for operators: <code>KeyError(&#39;base_sha&#39;)</code></p>'
            in page)
