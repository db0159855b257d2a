"""CI on Orca's pull requests (#15): a CI failure on a commit Orca pushed starts one round that
reads what failed and pushes a fix; the state shows on the tracking comment; never for a
person's commit, past the cap, or for a failure the base has too. Deliveries are built from
GitHub's published examples with the fake's own CI objects."""

from __future__ import annotations

from core import keys
from core.runs import RunStore
from jobs.steer.ci_rerun import RerunRecord
from tests import ci_payloads
from tests.e2e.conftest import HELLO_FILES, Scene, labeled_payload, make_scene, pulls
from tests.e2e.conversation_scenes import bodies, command
from tests.fakes.github_ci import CI_PERMISSIONS, Annotation
from tests.fakes.model import looks_right, reply, text, tool_use

REPO = "octo-org/hello"
LOG = (b"2026-12-03T10:00:00.0000000Z ##[group]Run pytest\n"
       b"2026-12-03T10:00:01.0000000Z FAILED tests/test_hello.py::test_greet - "
       b"AssertionError: 'helo, world' != 'hello, world'\n"
       b"2026-12-03T10:00:01.1000000Z ##[error]Process completed with exit code 1.\n")


def fix(old: str, new: str):
    return tool_use("str_replace_based_edit_tool", {
        "command": "str_replace", "path": "/workspace/hello.py", "old_str": old, "new_str": new})


def opened_pull(orca, permissions=CI_PERMISSIONS) -> tuple[Scene, object, str]:
    """Orca opens a pull request for an issue in an installation that granted CI's read
    permissions (or ``permissions``); (the scene, the pull request, its head commit)."""
    github = orca.github
    installation_id = github.add_installation("octo-org", permissions)
    requester = github.add_user("octocat")
    repo = github.add_repo(REPO, installation_id, private=True, files=HELLO_FILES)
    github.set_permission(REPO, "octocat", "write")
    number = github.add_issue(REPO, "Fix the greeting typo", "helo", "octocat", labels=["agent"])
    scene = Scene(installation_id, repo, number, requester)
    orca.model.script(reply(fix("'helo, world'", "'hallo, world'")), reply(text("Done.")),
                      reply(text("Fixed the greeting.")), looks_right())
    orca.deliver("issues", labeled_payload(github, scene))
    orca.drain()
    [pull] = pulls(github)
    return scene, pull, github.branch_sha(REPO, pull.pull.head_ref)


def failing_ci(orca, sha: str, log: bytes = LOG, **rerun):
    job = orca.github.ci.add_job(REPO, sha, "test", "failure", log=log, title="1 failed",
                                 annotations=[Annotation("tests/test_hello.py", 4,
                                                         "AssertionError: greeting")], **rerun)
    return job


def deliver_suite(orca, job) -> None:
    orca.deliver("check_suite", ci_payloads.check_suite_completed(orca.github, job.check_run.suite))


def tracking(orca, scene: Scene) -> str:
    return bodies(orca.github, REPO, scene.number)[0]


def test_a_failing_check_starts_one_round_that_reads_the_log_and_pushes_a_fix(orca):
    scene, pull, sha = opened_pull(orca)
    job = failing_ci(orca, sha)
    orca.model.script(reply(fix("'hallo, world'", "'hello, world'")), reply(text("Done.")),
                      reply(text("Made the greeting match the test.")), looks_right())
    before = len(orca.model.requests)
    deliver_suite(orca, job)
    orca.deliver("check_run", ci_payloads.check_run_completed(orca.github, job.check_run))
    orca.drain()
    round_request = orca.model.requests[before]["messages"][0]["content"]
    asked = round_request if isinstance(round_request, str) else " ".join(
        b.get("text", "") for b in round_request)
    assert "Fix CI: test" in asked and "AssertionError: 'helo, world' != 'hello, world'" in asked
    assert "tests/test_hello.py` line 4" in asked
    assert len(orca.model.requests) == before + 4  # one round (and its check), though two deliveries came
    head = orca.github.branch_sha(REPO, pull.pull.head_ref)
    assert head != sha
    assert orca.github.read_file(REPO, pull.pull.head_ref, "hello.py").endswith("'hello, world'\n")
    assert f"**CI** on `{sha[:7]}`: ❌ failed (`test`). CI round 1 of 2 under way" in tracking(orca, scene)
    said_on_pull = bodies(orca.github, REPO, pull.number)
    assert said_on_pull[-1].startswith(f"✅ Pushed `{head[:7]}`")

    passed = orca.github.ci.add_job(REPO, head, "test", "success")
    deliver_suite(orca, passed)
    orca.drain()
    assert f"**CI** on `{head[:7]}`: ✅ passed" in bodies(orca.github, REPO, pull.number)[-1]
    assert len(orca.model.requests) == before + 4
    # Each pushing run's record holds CI's state on its commit (a plan's checklist shows it).
    store = RunStore(orca.redis)
    records = {r["commit"]: r for r in map(store.get, store.runs_on(f"{REPO}#{scene.number}"))
               if r.get("commit")}
    records.update({r["commit"]: r for r in map(store.get, store.runs_on(f"{REPO}#{pull.number}"))
                    if r.get("commit")})
    assert (records[sha]["ci"], records[head]["ci"]) == ("failed", "passed")


def test_a_commit_a_person_pushed_gets_no_round(orca):
    _scene, pull, _sha = opened_pull(orca)
    theirs = orca.github.push_commit(REPO, pull.pull.head_ref, {"NOTES.md": "mine\n"}, "Mine")
    before = len(orca.model.requests)
    deliver_suite(orca, failing_ci(orca, theirs))
    orca.drain()
    assert len(orca.model.requests) == before
    assert RunStore(orca.redis).runs_on(f"{REPO}#{pull.number}") == []


def test_past_the_cap_orca_comments_once_and_starts_nothing(orca, monkeypatch):
    monkeypatch.setenv("ORCA_MAX_CI_ROUNDS", "0")
    scene, pull, sha = opened_pull(orca)
    before = len(orca.model.requests)
    deliver_suite(orca, failing_ci(orca, sha))
    orca.drain()
    assert len(orca.model.requests) == before
    [capped] = bodies(orca.github, REPO, pull.number)
    assert capped.startswith(f"⚠️ CI still fails on `{sha[:7]}` after 0 CI rounds")
    assert "no round: 0 were the cap" in tracking(orca, scene)


def test_a_failure_the_base_has_too_is_reported_as_flaky_not_fixed(orca):
    scene, pull, sha = opened_pull(orca)
    base = orca.github.branch_sha(REPO, "main")
    failing_ci(orca, base)  # the same check fails the same way at the base commit
    before = len(orca.model.requests)
    deliver_suite(orca, failing_ci(orca, sha))
    orca.drain()
    assert len(orca.model.requests) == before
    assert "fail the same way at the pull request's base commit" in tracking(orca, scene)
    assert RunStore(orca.redis).runs_on(f"{REPO}#{pull.number}") == []


def test_a_writer_asks_for_a_round_with_agent_fix_ci(orca):
    scene, pull, sha = opened_pull(orca)
    failing_ci(orca, sha)
    orca.model.script(reply(fix("'hallo, world'", "'hello, world'")), reply(text("Done.")),
                      reply(text("Fixed.")), looks_right())
    before = len(orca.model.requests)
    command(orca, scene, pull.number, "/agent fix ci: only the greeting", on_pull_request=True)
    orca.drain()
    first = orca.model.requests[before]["messages"][0]["content"]
    asked = first if isinstance(first, str) else " ".join(b.get("text", "") for b in first)
    assert "Fix CI: test" in asked and "only the greeting" in asked
    assert bodies(orca.github, REPO, pull.number)[-1].startswith("✅ Pushed")


def test_an_installation_without_cis_permissions_is_told_once_what_they_would_add(orca):
    github = orca.github
    scene = make_scene(github)  # the default installation: no checks, statuses or actions
    orca.model.script(reply(fix("'helo, world'", "'hello, world'")), reply(text("Done.")),
                      reply(text("Fixed.")), looks_right())
    orca.deliver("issues", labeled_payload(github, scene))
    orca.drain()
    [first] = pulls(github)
    assert "**Orca can follow CI here**" in first.body
    assert "asks for: Commit statuses, Actions." in first.body  # it had checks: read
    second = github.add_issue(REPO, "Another", "again", "octocat", labels=["agent"])
    orca.model.script(reply(fix("def greet", "def greet_again")), reply(text("Done.")),
                      reply(text("Renamed.")), looks_right())
    orca.deliver("issues", labeled_payload(github, Scene(scene.installation_id, scene.repo,
                                                         second, scene.requester)))
    orca.drain()
    newest = max(pulls(github), key=lambda p: p.number)
    assert newest.number != first.number and "Orca can follow CI here" not in newest.body


def test_an_installation_with_them_is_told_nothing(orca):
    _scene, pull, _sha = opened_pull(orca)
    assert "Orca can follow CI here" not in pull.body


def test_ci_news_from_an_installation_that_cannot_read_ci_is_ignored_cleanly(orca):
    from rq.registry import FailedJobRegistry

    from core.queues import FAST_QUEUE
    scene = make_scene(orca.github)  # no statuses or actions: a token that reads CI is refused
    orca.model.script(reply(fix("'helo, world'", "'hello, world'")), reply(text("Done.")),
                      reply(text("Fixed.")), looks_right())
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    [pull] = pulls(orca.github)
    before = len(orca.model.requests)
    deliver_suite(orca, failing_ci(orca, orca.github.branch_sha(REPO, pull.pull.head_ref)))
    orca.drain()
    assert len(orca.model.requests) == before
    assert FailedJobRegistry(FAST_QUEUE, connection=orca.redis).get_job_ids() == []


def test_agent_fix_ci_on_an_issue_says_it_works_on_a_pull_request(orca):
    scene, _pull, _sha = opened_pull(orca)
    before = len(orca.model.requests)
    command(orca, scene, scene.number, "/agent fix ci")
    orca.drain()
    assert len(orca.model.requests) == before
    assert bodies(orca.github, REPO, scene.number)[-1].startswith(
        "🚫 Orca cannot do this: `/agent fix ci` works on a pull request")


# -- flaky failures told by re-running them (actions: write) ----------------------------------
MAY_RERUN = {**CI_PERMISSIONS, "actions": "write"}
AGAIN = (b"2026-12-03T10:05:00.0000000Z FAILED tests/test_hello.py::test_greet - "
         b"AssertionError: 'hallo, world' != 'hello, world' (second attempt)\n")


def deliver_both(orca, job) -> None:
    """What GitHub sends when a job finishes: its suite's news and its check run's."""
    deliver_suite(orca, job)
    orca.deliver("check_run", ci_payloads.check_run_completed(orca.github, job.check_run))


def ci_rounds_on(orca, pull) -> int:
    return int(orca.redis.get(keys.ci_rounds(f"{REPO}#{pull.number}")) or 0)


def test_a_failure_that_passes_when_re_run_is_reported_flaky_and_spends_no_round(orca):
    scene, pull, sha = opened_pull(orca, MAY_RERUN)
    job = failing_ci(orca, sha, rerun_waits=True)
    before = len(orca.model.requests)
    deliver_both(orca, job)
    orca.drain()
    assert orca.github.ci.store.reruns == [job.id]  # once, though two deliveries came
    assert len(orca.model.requests) == before
    assert (f"**CI** on `{sha[:7]}`: ⏳ pending. Orca re-ran `test` once to tell a flaky failure "
            "from a real one") in tracking(orca, scene)

    again = orca.github.ci.latest_job(job)
    orca.github.ci.complete(again, "success")
    deliver_both(orca, again)
    orca.drain()
    line = next(row for row in tracking(orca, scene).split("\n") if row.startswith("**CI**"))
    assert line.startswith(f"**CI** on `{sha[:7]}`: ✅ passed. `test` failed, then passed when "
                           "Orca re-ran it, so it looks flaky")
    assert "Orca did not try to fix it" in line and "round" not in line
    assert len(orca.model.requests) == before and ci_rounds_on(orca, pull) == 0
    assert RunStore(orca.redis).runs_on(f"{REPO}#{pull.number}") == []
    assert orca.github.branch_sha(REPO, pull.pull.head_ref) == sha
    assert orca.github.ci.store.reruns == [job.id]
    assert orca.github.violations == []  # the re-run's call, checked against GitHub's OpenAPI


def test_a_failure_that_fails_again_when_re_run_gets_its_round(orca):
    scene, pull, sha = opened_pull(orca, MAY_RERUN)
    job = failing_ci(orca, sha, rerun_log=AGAIN, rerun_waits=True)
    before = len(orca.model.requests)
    deliver_suite(orca, job)
    orca.drain()
    assert orca.github.ci.store.reruns == [job.id] and len(orca.model.requests) == before

    again = orca.github.ci.latest_job(job)
    orca.github.ci.complete(again, "failure")
    orca.model.script(reply(fix("'hallo, world'", "'hello, world'")), reply(text("Done.")),
                      reply(text("Made the greeting match the test.")), looks_right())
    deliver_both(orca, again)
    orca.drain()
    assert len(orca.model.requests) == before + 4  # one round (and its check)
    first = orca.model.requests[before]["messages"][0]["content"]
    asked = first if isinstance(first, str) else " ".join(b.get("text", "") for b in first)
    assert "(second attempt)" in asked  # it read the re-run's log, not the first attempt's
    assert orca.github.ci.store.reruns == [job.id]  # never a second re-run of the commit
    line = next(row for row in tracking(orca, scene).split("\n") if row.startswith("**CI**"))
    assert line.startswith(f"**CI** on `{sha[:7]}`: ❌ failed (`test`). CI round 1 of 2 under way")
    assert "; `test` failed again when Orca re-ran it, so it is not just flaky" in line
    assert orca.github.branch_sha(REPO, pull.pull.head_ref) != sha
    assert orca.github.violations == []


def test_without_actions_write_nothing_is_re_run(orca):
    scene, pull, sha = opened_pull(orca)  # actions: read only
    job = failing_ci(orca, sha, rerun_conclusion="success")  # a re-run would pass
    orca.model.script(reply(fix("'hallo, world'", "'hello, world'")), reply(text("Done.")),
                      reply(text("Fixed.")), looks_right())
    before = len(orca.model.requests)
    deliver_suite(orca, job)
    orca.drain()
    assert orca.github.ci.store.reruns == []
    assert len(orca.model.requests) == before + 4 and ci_rounds_on(orca, pull) == 1
    assert "re-ran" not in tracking(orca, scene)


def test_news_read_before_the_re_run_began_waits_for_it(orca):
    scene, pull, sha = opened_pull(orca, MAY_RERUN)
    job = failing_ci(orca, sha)
    # Another delivery's fast job has just claimed the commit's re-run of this very check run,
    # and GitHub has not made the re-run's check run yet: this delivery reads the first attempt.
    claimed = RerunRecord((job.check_run.id,), ("test",))
    RunStore(orca.redis).claim_ci_rerun(REPO, sha, claimed.encode())
    before = len(orca.model.requests)
    deliver_suite(orca, job)
    orca.drain()
    assert orca.github.ci.store.reruns == [] and len(orca.model.requests) == before
    assert ci_rounds_on(orca, pull) == 0
    assert f"**CI** on `{sha[:7]}`: ❌ failed (`test`). Orca re-ran `test` once" in tracking(
        orca, scene)


def test_a_re_run_github_refuses_leaves_the_failure_to_its_round(orca):
    scene, pull, sha = opened_pull(orca, MAY_RERUN)
    job = failing_ci(orca, sha, rerun_conclusion="success")
    orca.github.fail_next("POST", r"/actions/jobs/\d+/rerun$", 403,
                          body={"message": "This job cannot be re-run"})
    orca.model.script(reply(fix("'hallo, world'", "'hello, world'")), reply(text("Done.")),
                      reply(text("Fixed.")), looks_right())
    before = len(orca.model.requests)
    deliver_both(orca, job)
    orca.drain()
    assert orca.github.ci.store.reruns == []  # refused, and never asked again for the commit
    assert len(orca.model.requests) == before + 4 and ci_rounds_on(orca, pull) == 1
    assert f"**CI** on `{sha[:7]}`: ❌ failed (`test`). CI round 1 of 2 under way" in tracking(
        orca, scene)
