"""The pure and local parts of conversations: thread answers, trigger time, stopping."""

from __future__ import annotations

import datetime as dt
import threading
import time

from core.runs import RunStore
from core.stops import watching
from jobs.sandbox.process import run_captured
from jobs.task.conversation import _was_there
from jobs.task.threads import parse_answers

T = dt.datetime(2026, 11, 24, 12, 0, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)


def test_answers_per_thread_are_parsed_out_of_the_summary():
    answers = parse_answers('Did it.\n<reply thread="1">Renamed.</reply>\n'
                            '<skip thread="2">\nOut of scope.\n</skip>\n<reply thread="x">no</reply>')
    assert {n: (a.acted, a.text) for n, a in answers.by_thread.items()} == {
        1: (True, "Renamed."), 2: (False, "Out of scope.")}
    assert answers.summary == 'Did it.\n\n\n<reply thread="x">no</reply>'


def test_what_was_there_at_the_trigger():
    assert _was_there(5, T - SECOND, T - SECOND, T, None)
    assert not _was_there(5, T + SECOND, T + SECOND, T, None)       # written after
    assert not _was_there(5, T - SECOND, T + SECOND, T, None)       # edited after
    assert not _was_there(5, T, T, T, None)                         # same second as a label
    assert _was_there(5, T, T, T, trigger_comment=9)                # older than the command
    assert not _was_there(11, T, T, T, trigger_comment=9)           # newer than the command
    assert _was_there(5, T + SECOND, T + SECOND, None, None)        # no trigger time: all


def test_a_stop_request_reaches_the_watcher_and_kills_the_command(redis_client, tmp_path):
    store = RunStore(redis_client)
    store.create("r1", {"kind": "label"}, "o/r#1")
    with watching(store, "r1", interval=0.05) as stop:
        threading.Timer(0.3, store.request_stop, args=("r1", "octocat", "asked")).start()
        started = time.monotonic()
        result = run_captured(["bash", "-c", "sleep 30"], env={"PATH": "/usr/bin:/bin"},
                              cwd=str(tmp_path), timeout=60, max_output=1000, stop=stop.event)
    assert time.monotonic() - started < 5
    assert result.timed_out and stop.is_set()
    assert (stop.reason, stop.push) == ("asked", False)


def test_targets_index_their_runs_newest_first(redis_client):
    store = RunStore(redis_client)
    store.create("a", {}, "o/r#1")
    store.create("b", {}, "o/r#1")
    store.create("c", {}, "o/r#2")
    store.update("a", status="done")
    assert store.runs_on("o/r#1") == ["b", "a"]
    assert store.active_on("o/r#1") == ["b"]
    assert [store.count_round("o/r#1") for _ in range(3)] == [1, 2, 3]


def test_a_review_asks_for_nothing_only_when_it_is_all_replies_to_orca_without_a_question():
    from jobs.task.threads import nothing_asked

    answered = {10, 20}
    assert nothing_asked("", [("Thanks!", 10)], answered)
    assert nothing_asked("", [("Thanks!", 10), ("Great, ta.", 20)], answered)
    for request, comments in [
        ("Please also rename the module.", [("Thanks!", 10)]),  # the review's body asks
        ("", [("Thanks!", 10), ("New point here.", None)]),     # a new thread
        ("", [("Thanks!", 30)]),                                 # a thread Orca did not answer
        ("", [("Why this name?", 10)]),                           # a question
        ("", [("/agent also add a test", 10)]),                   # a command
        ("", []),                                                 # no comments: a plain review
    ]:
        assert nothing_asked(request, comments, answered) is None, (request, comments)
