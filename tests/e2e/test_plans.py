"""Plans end to end: `/agent plan` answers with a plan (or questions) and pushes nothing;
`/agent go` opens one sub-issue per sub-task, linked to the parent, and starts each when the
ones it waits for have their pull requests; the parent's checklist follows them."""

from __future__ import annotations

import json

from app import create_app
from core.plans import PlanStore
from core.queues import FastWorker, queues
from core.runs import RunStore
from core.settings import load_settings
from tests.e2e.conftest import HELLO_FILES, labeled_payload, make_scene, pulls
from tests.e2e.conversation_scenes import bodies, command, drain_fast, pull_scene
from tests.fakes.github_api_issues import sub_issues_of
from tests.fakes.model import looks_right, reply, text, tool_use
from tests.mission_scene import csrf_of

APPROACH = "Split greeting into a module, then add the CLI and its docs."
TASKS = [
    {"title": "Move greet into greeting.py", "scope": "Only the move.", "check": "import works"},
    {"title": "Add a README section", "scope": "Docs only.", "check": "README says how"},
    {"title": "Add a CLI on greeting.py", "scope": "cli.py calls greet.", "check": "cli prints",
     "after": [1]},
]


def submit(**plan):
    return reply(tool_use("submit_plan", {"approach": APPROACH, **plan}))


def script_plan(model, *submissions) -> None:
    model.script(reply(tool_use("bash", {"command": "ls"})), *submissions, reply(text("Planned.")))


def script_child(model, k: int) -> None:
    model.script(
        reply(tool_use("str_replace_based_edit_tool", {
            "command": "create", "path": f"/workspace/part{k}.py", "file_text": f"PART = {k}\n"})),
        reply(text("Done.")),
        reply(text(f"Added part{k}.py.")),
        looks_right(),
    )


def pushes(github) -> int:
    return len(github.calls_to("POST", r"git-receive-pack"))


def plan_for(orca, scene, *submissions, body="/agent plan") -> str:
    script_plan(orca.model, *submissions)
    status, _, _ = command(orca, scene, scene.number, body)
    assert status == 202
    orca.drain()
    return bodies(orca.github, scene.full_name, scene.number)[-1]


def children(github, scene) -> list:
    parent = github.state.issues[(scene.repo["id"], scene.number)]
    return sorted((i for i in github.state.issues.values()
                   if i.pull is None and i is not parent and i.repo is parent.repo),
                  key=lambda i: i.number)


def checklist(github, scene) -> str:
    [found] = [b for b in bodies(github, scene.full_name, scene.number)
               if b.startswith("**The plan for")]
    return found


def signed_in(orca):
    """A mission control client signed in as the operator."""
    client = create_app(load_settings(ORCA_ADMIN_TOKEN="e2e-operator-token"), orca.redis).test_client()
    form = client.get("/auth/signin").text
    client.post("/auth/admin", data={"csrf_token": csrf_of(form), "token": "e2e-operator-token"})
    return client


def run_one(orca) -> None:
    """One run from the runs queue, then everything it queued on the fast queue."""
    _, runs = queues(orca.redis)
    FastWorker([runs], connection=orca.redis).work(burst=True, max_jobs=1)
    drain_fast(orca)


def test_a_plan_that_asks_questions_proposes_no_sub_tasks_and_go_waits_for_answers(orca):
    github = orca.github
    scene = make_scene(github)
    said = plan_for(orca, scene, submit(questions=["Python 3.8 too?", "Keep greet()?"],
                                        files=["hello.py"], risks=["Callers break"]))

    assert said.startswith("@octocat Before I start, I need to know:\n\n1. Python 3.8 too?\n"
                           "2. Keep greet()?"), said
    assert "**Sub-tasks**" not in said and "`hello.py`" in said and "Callers break" in said
    assert pushes(github) == 0 and pulls(github) == [] and children(github, scene) == []
    assert PlanStore(orca.redis).plan(f"{scene.full_name}#{scene.number}").questions

    command(orca, scene, scene.number, "/agent go")
    orca.drain()
    assert "asks questions first" in bodies(github, scene.full_name, scene.number)[-1]
    assert children(github, scene) == [] and orca.model.remaining == 0

    # A writer answers, and the next plan reads the answer; Orca's own comments are not read.
    github.add_comment(scene.full_name, scene.number, "Yes, 3.8 too; keep greet().", "octocat")
    asked_before = len(orca.model.requests)
    said = plan_for(orca, scene, submit(files=["hello.py"]))
    task = json.dumps(orca.model.requests[asked_before]["messages"][0])
    assert "Yes, 3.8 too; keep greet()." in task and "Before I start" not in task
    assert said.startswith("@octocat here is Orca's plan.")
    assert PlanStore(orca.redis).plan(f"{scene.full_name}#{scene.number}").questions == ()


def test_three_sub_tasks_the_third_after_the_first(orca):
    github, model = orca.github, orca.model
    scene = make_scene(github)
    said = plan_for(orca, scene, submit(files=["hello.py"], subtasks=TASKS))
    assert "1. **Move greet into greeting.py**" in said
    assert "3. **Add a CLI on greeting.py** (after 1)" in said
    assert pushes(github) == 0 and children(github, scene) == []

    for k in (1, 2, 3):
        script_child(model, k)
    command(orca, scene, scene.number, "/agent go\n2: mention the CLI too")
    drain_fast(orca)

    # Three issues, linked to the parent as sub-issues, each saying its part.
    kids = children(github, scene)
    parent = github.state.issues[(scene.repo["id"], scene.number)]
    assert [k.title for k in kids] == [t["title"] for t in TASKS]
    assert sorted(sub_issues_of(github, parent.id)) == sorted(k.id for k in kids)
    assert kids[1].body.startswith(f"Part of #{scene.number} (sub-task 2")
    assert "mention the CLI too" in kids[1].body
    first = checklist(github, scene)
    assert f"1. #{kids[0].number} Move greet into greeting.py: queued" in first
    assert f"2. #{kids[1].number} Add a README section: queued" in first
    assert f"3. #{kids[2].number} Add a CLI on greeting.py: waiting for 1" in first

    # The first two were started at once, for the writer who said go; the third was not.
    store = RunStore(orca.redis)
    started = [store.runs_on(f"{scene.full_name}#{k.number}") for k in kids]
    assert [len(s) for s in started] == [1, 1, 0]
    assert store.load(started[0][0]).trigger.requester == "octocat"

    run_one(orca)  # the first sub-task's run: its pull request opens, the third starts
    middle = checklist(github, scene)
    [pr1] = pulls(github)
    assert f"1. #{kids[0].number} Move greet into greeting.py: PR #{pr1.number} open" in middle
    assert "- [x] 1." in middle and f"3. #{kids[2].number} Add a CLI on greeting.py: queued" in middle
    assert len(store.runs_on(f"{scene.full_name}#{kids[2].number}")) == 1

    orca.drain()
    last = checklist(github, scene)
    assert len(pulls(github)) == 3 and "waiting" not in last and "queued" not in last
    assert "All done: 3 of 3 sub-tasks have a pull request." in last
    # The third started from the first's branch, so it builds on its code; the second did not.
    branches = {p.title: p.pull.head_ref for p in pulls(github)}
    third, second = branches[TASKS[2]["title"]], branches[TASKS[1]["title"]]
    assert github.read_file(scene.full_name, third, "part1.py") == "PART = 1\n"
    assert github.read_file(scene.full_name, second, "part1.py") is None
    # Mission control: the plan's run shows the parent's children; a child's run its parent.
    pages = signed_in(orca)
    plan_run = store.runs_on(f"{scene.full_name}#{scene.number}")[-1]
    page = pages.get(f"/runs/{plan_run}").text
    assert 'id="fleet-children"' in page and page.count("/pull/") >= 3
    assert f"<td>#{kids[2].number}</td>" in page and "3. Add a CLI on greeting.py" in page
    child_page = pages.get(f"/runs/{started[0][0]}").text
    assert f"part of {scene.full_name}#{scene.number}" in child_page
    print("\n--- after go ---\n" + first + "\n--- after the first PR ---\n" + middle
          + "\n--- at the end ---\n" + last)
    assert github.violations == [] and model.remaining == 0


def test_a_readers_go_is_refused_and_opens_nothing(orca):
    github = orca.github
    scene = make_scene(github)
    plan_for(orca, scene, submit(subtasks=TASKS))
    github.set_permission(scene.full_name, "mallory", "read")
    command(orca, scene, scene.number, "/agent go", sender="mallory")
    orca.drain()
    assert children(github, scene) == []
    assert "@mallory" in bodies(github, scene.full_name, scene.number)[-1]


def test_a_plan_over_the_cap_is_refused_to_the_model_and_said(orca, monkeypatch):
    monkeypatch.setenv("ORCA_MAX_SUBTASKS", "2")
    github = orca.github
    scene = make_scene(github)
    said = plan_for(orca, scene, submit(subtasks=TASKS))
    assert "Orca has no plan for this issue" in said
    assert "it has 3 sub-tasks, and a plan takes at most 2 (ORCA_MAX_SUBTASKS)" in said
    refusal = orca.model.requests[-1]["messages"][-1]["content"][0]
    assert refusal["is_error"] is True and "at most 2" in refusal["content"]
    assert PlanStore(orca.redis).plan(f"{scene.full_name}#{scene.number}") is None


def test_a_cycle_in_after_is_refused_naming_it(orca):
    github = orca.github
    scene = make_scene(github)
    looping = [{**TASKS[0], "after": [3]}, TASKS[1], TASKS[2]]
    said = plan_for(orca, scene, submit(subtasks=looping))
    assert "sub-tasks wait for each other in a cycle: 1 → 3 → 1" in said
    assert PlanStore(orca.redis).plan(f"{scene.full_name}#{scene.number}") is None


def test_where_the_sub_issues_api_is_missing_each_issue_says_part_of(orca):
    github, model = orca.github, orca.model
    github.sub_issues_missing = True
    scene = make_scene(github)
    plan_for(orca, scene, submit(subtasks=TASKS[:2]))
    script_child(model, 1)  # and none for 2: "drop 2" starts nothing
    command(orca, scene, scene.number, "/agent go\ndrop 2")
    orca.drain()
    [kid] = children(github, scene)
    assert kid.body.startswith(f"Part of #{scene.number}") and github.sub_issues == {}
    assert github.calls_to("POST", r"/sub_issues$")
    assert "All done: 1 of 1 sub-tasks have a pull request." in checklist(github, scene)
    assert github.violations == [] and model.remaining == 0


def test_the_plan_label_then_go_on_a_plan_without_sub_tasks_is_one_guided_run(orca):
    github, model = orca.github, orca.model
    scene = make_scene(github)
    script_plan(model, submit(files=["hello.py"], risks=["None much"]))
    status, _ = orca.deliver("issues", labeled_payload(github, scene, label="agent:plan"))
    assert status == 202
    orca.drain()
    said = bodies(github, scene.full_name, scene.number)[-1]
    assert said.startswith("@octocat here is Orca's plan.") and APPROACH in said
    assert "`/agent go` starts a run that follows this plan" in said and pushes(github) == 0

    script_child(model, 1)
    command(orca, scene, scene.number, "/agent go\nkeep it short")
    orca.drain()
    assert len(pulls(github)) == 1
    asked = json.dumps(model.requests[-4]["messages"][0])
    assert "Follow this plan, made for this issue" in asked and APPROACH in asked
    assert "keep it short" in asked and children(github, scene) == []
    assert github.violations == [] and model.remaining == 0


def test_stop_on_the_parent_stops_every_child_and_starts_no_more(orca):
    github = orca.github
    scene = make_scene(github)
    plan_for(orca, scene, submit(subtasks=TASKS))
    command(orca, scene, scene.number, "/agent go")
    drain_fast(orca)
    kids = children(github, scene)
    store = RunStore(orca.redis)
    queued = [store.runs_on(f"{scene.full_name}#{k.number}") for k in kids[:2]]
    assert all(len(q) == 1 for q in queued)

    command(orca, scene, scene.number, "/agent stop")
    orca.drain()  # nothing is left to run: the model is asked nothing more
    assert [store.get(q[0])["status"] for q in queued] == ["cancelled", "cancelled"]
    last = checklist(github, scene)
    assert f"1. #{kids[0].number} Move greet into greeting.py: stopped" in last
    assert f"3. #{kids[2].number} Add a CLI on greeting.py: stopped: @octocat stopped the plan" in last
    assert store.runs_on(f"{scene.full_name}#{kids[2].number}") == []
    assert pulls(github) == [] and orca.model.remaining == 0


def test_a_sub_task_whose_wait_ended_without_a_pull_request_is_blocked(orca):
    github, model = orca.github, orca.model
    scene = make_scene(github)
    plan_for(orca, scene, submit(subtasks=[TASKS[0], {**TASKS[2], "after": [1]}]))
    model.script(reply(text("Nothing needs changing: greet is already in place.")))
    command(orca, scene, scene.number, "/agent go")
    orca.drain()
    kids = children(github, scene)
    last = checklist(github, scene)
    assert f"1. #{kids[0].number} Move greet into greeting.py: done, no changes to propose" in last
    assert f"2. #{kids[1].number} Add a CLI on greeting.py: blocked: 1 ended without a pull request" in last
    assert "All done: 0 of 2 sub-tasks have a pull request." in last
    assert pulls(github) == [] and model.remaining == 0


def merge(orca, scene, pull) -> None:
    """Merge `pull` in the fake (state only) and deliver pull_request.closed, as GitHub would."""
    from tests import payloads
    from tests.e2e.conversation_scenes import repo_spec

    github = orca.github
    pull.pull.merged, pull.state = True, "closed"
    github.refresh_pull(pull)
    payload = payloads.build(
        "pull_request", "closed", base_url=github.base_url, installation_id=scene.installation_id,
        repo=repo_spec(scene), sender_login="octocat", sender_id=scene.requester["id"],
        issue={"number": pull.number, "title": pull.title, "body": pull.body,
               "head": pull.pull.head_ref, "base": "main", "head_sha": pull.pull.head_sha,
               "user": {"login": pull.user.login, "id": pull.user.id, "type": pull.user.type}})
    payload["pull_request"].update(merged=True, state="closed")
    status, answer = orca.deliver("pull_request", payload)
    assert status == 202, answer


def test_with_wait_for_merged_a_sub_task_starts_when_the_one_before_is_merged(orca):
    github, model = orca.github, orca.model
    files = {**HELLO_FILES, ".github/orca.yml": "plans:\n  wait_for: merged\n"}
    scene = make_scene(github, files=files)
    plan_for(orca, scene, submit(subtasks=[TASKS[0], {**TASKS[2], "after": [1]}]))
    script_child(model, 1)
    command(orca, scene, scene.number, "/agent go")
    orca.drain()
    kids = children(github, scene)
    [pr1] = pulls(github)
    before = checklist(github, scene)
    assert f"1. #{kids[0].number} Move greet into greeting.py: PR #{pr1.number} open" in before
    assert f"2. #{kids[1].number} Add a CLI on greeting.py: waiting for 1 (merged)" in before
    assert "All done" not in before and model.remaining == 0

    script_child(model, 2)
    merge(orca, scene, pr1)
    orca.drain()
    after = checklist(github, scene)
    assert f"1. #{kids[0].number} Move greet into greeting.py: PR #{pr1.number} merged" in after
    assert len(pulls(github)) == 2 and f"2. #{kids[1].number} Add a CLI on greeting.py: PR #" in after
    # It waited for a merge, so it starts from the default branch, not the first's branch.
    second = next(p for p in pulls(github) if p is not pr1)
    assert github.read_file(scene.full_name, second.pull.head_ref, "part1.py") is None
    assert github.violations == [] and model.remaining == 0


def test_retry_on_a_failed_child_retries_it_alone_and_its_waiters_follow(orca):
    github, model = orca.github, orca.model
    scene = make_scene(github)
    plan_for(orca, scene, submit(subtasks=[TASKS[0], {**TASKS[2], "after": [1]}]))
    model.fail_always(400, "invalid_request_error", "this request is refused")
    command(orca, scene, scene.number, "/agent go")
    orca.drain()
    kids = children(github, scene)
    assert f"1. #{kids[0].number} Move greet into greeting.py: failed" in checklist(github, scene)
    assert "blocked: 1 ended without a pull request" in checklist(github, scene)

    model.fail_always(None)
    script_child(model, 1)
    script_child(model, 3)
    command(orca, scene, kids[0].number, "/agent retry")
    orca.drain()
    last = checklist(github, scene)
    assert len(pulls(github)) == 2 and "All done: 2 of 2 sub-tasks have a pull request." in last
    retried = RunStore(orca.redis).runs_on(f"{scene.full_name}#{kids[0].number}")
    assert len(retried) == 2  # the failed run and its retry, on the child alone
    assert model.remaining == 0


def test_a_plan_asked_for_on_a_pull_request_is_refused_and_starts_nothing(orca):
    github = orca.github
    ps = pull_scene(github)
    status, _, _ = command(orca, ps.scene, ps.number, "/agent plan", on_pull_request=True)
    assert status == 202
    orca.drain()
    assert bodies(github, ps.full_name, ps.number)[-1].startswith(
        "🚫 Orca cannot do this: `/agent plan` works on an issue")
    assert orca.model.requests == [] and RunStore(orca.redis).active_on(
        f"{ps.full_name}#{ps.number}") == []


def test_a_go_that_github_refuses_part_way_opens_the_rest_when_said_again(orca):
    github, model = orca.github, orca.model
    scene = make_scene(github)
    plan_for(orca, scene, submit(subtasks=TASKS[:2]))
    github.fail_next("POST", r"/repos/[^/]+/[^/]+/issues$", 422,
                     body={"message": "Validation Failed", "errors": [],
                           "documentation_url": "https://docs.github.com/rest"})
    command(orca, scene, scene.number, "/agent go")
    drain_fast(orca)
    assert children(github, scene) == []
    assert bodies(github, scene.full_name, scene.number)[-1].startswith(
        "GitHub refused to open a sub-issue (422), so 2 of the 2 are not opened yet")
    assert "(no issue)" in checklist(github, scene) and "All done" not in checklist(github, scene)

    for k in (1, 2):
        script_child(model, k)
    command(orca, scene, scene.number, "/agent go")
    orca.drain()
    assert [k.title for k in children(github, scene)] == [t["title"] for t in TASKS[:2]]
    assert "All done: 2 of 2 sub-tasks have a pull request." in checklist(github, scene)
    assert github.violations == [] and model.remaining == 0
