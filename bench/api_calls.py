"""GitHub API calls and writes per scenario, read from the fake GitHub's call log.

GitHub limits an App per installation (5,000 requests an hour) and, more tightly, limits
content-creating requests (about 80 a minute, 500 an hour: FACTS.md), so the number of REST
calls a run makes, and how many of them write, decides how many runs an installation can
take. Each scenario runs the real jobs end to end against the fakes (bench/_world.py) and
returns the calls it made; REST calls (under /api/v3) are counted, writes are those that are
not GET (installation token mints included), and git's smart-HTTP requests are shown apart.
Target for a label-to-PR run: at most 15 calls, at most 8 writes.

To add a scenario, write one function that takes a `World` and returns its calls, and
decorate it with `@scenario("name")`; `main` runs every registered scenario.

    .venv/bin/python bench/api_calls.py [--runs 2] [--scenario "label to pull request"]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._servers import machine
from bench._world import World, orca_world
from tests import ci_payloads
from tests.e2e.conftest import HELLO_FILES, Scene, labeled_payload, make_scene, pulls
from tests.e2e.conversation_scenes import comment_payload, pull_scene, review_payload
from tests.e2e.review_scenes import (
    BRANCH,
    CHANGED,
    finding,
    pull_to_review,
    reviews_by_orca,
)
from tests.e2e.test_label_to_pull_request import script_fix
from tests.fakes.github import Call
from tests.fakes.github_ci import CI_PERMISSIONS, Annotation
from tests.fakes.model import reply, text, tool_use

API_PREFIX = "/api/v3"
GRAPHQL = "/api/graphql"
TARGETS = {"label to pull request": (15, 8)}  # (calls, writes)
Scenario = Callable[[World, int], list[Call]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    """Register a scenario: `fn(world, n)` runs the n-th repetition and returns its calls."""
    def register(fn: Scenario) -> Scenario:
        SCENARIOS[name] = fn
        return fn
    return register


def calls_during(world: World, action: Callable[[], None]) -> list[Call]:
    """The calls the fake GitHub answered while `action` ran."""
    before = len(world.github.calls)
    action()
    return list(world.github.calls[before:])


# -- scenarios -----------------------------------------------------------------------------

@scenario("label to pull request")
def label_to_pull_request(world: World, n: int) -> list[Call]:
    """An `agent` label on an issue, through acknowledgement and run, to an opened PR."""
    github = world.github
    if n == 1:
        scene = make_scene(github)
    else:  # the same repository, a new issue
        repo = github.state.repo("octo-org/hello")
        number = github.add_issue("octo-org/hello", "Fix the greeting typo",
                                  "greet() says helo instead of hello.", "octocat", labels=["agent"])
        scene = Scene(repo.installation_id, {"full_name": "octo-org/hello", "id": repo.id},
                      number, github.add_user("octocat"))
    script_fix(world.model)  # the end-to-end test's five turns
    opened = len(pulls(github))

    def run() -> None:
        status, answer = world.deliver("issues", labeled_payload(github, scene))
        if status != 202:
            raise SystemExit(f"delivery answered {status}: {answer}")
        world.drain()

    calls = calls_during(world, run)
    if len(pulls(github)) != opened + 1:
        raise SystemExit("the run did not open a pull request; see the calls below:\n"
                         + table(calls))
    return calls


REVIEW_ANSWERS = ('<reply thread="1">Renamed.</reply>\n<reply thread="2">Documented.</reply>\n'
                  '<skip thread="3">Already covered.</skip>')


@scenario("review round")
def review_round(world: World, n: int) -> list[Call]:
    """A review with three inline comments on Orca's PR: one run, three replies, one summary."""
    github = world.github
    if n == 1:
        world.review_pull = pull_scene(github, by_orca=True)
    ps = world.review_pull
    rid = github.add_review(ps.full_name, ps.number, "octocat", f"Round {n}.", "CHANGES_REQUESTED")
    for body in ("Rename it.", "Document it.", "Test it."):
        github.add_review_comment(ps.full_name, ps.number, body, "octocat", "hello.py", 1,
                                  review_id=rid)
    world.model.script(
        reply(tool_use("str_replace_based_edit_tool", {
            "command": "str_replace", "path": "/workspace/hello.py", "old_str": "def greet",
            "new_str": f"def greet{n}"})),
        reply(text("Done.")), reply(text(REVIEW_ANSWERS)))
    payload = review_payload(github, ps, rid, f"Round {n}.")

    def run() -> None:
        status, answer = world.deliver("pull_request_review", payload)
        if status != 202:
            raise SystemExit(f"delivery answered {status}: {answer}")
        world.drain()

    return calls_during(world, run)


CI_REPO = "ci-org/hello"


@scenario("CI round")
def ci_round(world: World, n: int) -> list[Call]:
    """CI fails on the commit Orca pushed to its PR: the CI delivery's fast job, then one round
    that reads the failing check, its annotation and its job's log, and pushes a fix."""
    github = world.github
    if n == 1:  # Orca's PR, in an installation that granted CI's read permissions
        installation_id = github.add_installation("ci-org", CI_PERMISSIONS)
        repo = github.add_repo(CI_REPO, installation_id, private=True, files=HELLO_FILES)
        github.set_permission(CI_REPO, "octocat", "write")
        number = github.add_issue(CI_REPO, "Fix the greeting typo", "helo", "octocat",
                                  labels=["agent"])
        scene = Scene(installation_id, repo, number, github.add_user("octocat"))
        script_fix(world.model)
        world.deliver("issues", labeled_payload(github, scene))
        world.drain()
        world.ci_pull = next(p for p in pulls(github) if p.repo.id == repo["id"])
    branch = world.ci_pull.pull.head_ref
    sha = github.branch_sha(CI_REPO, branch)
    job = github.ci.add_job(CI_REPO, sha, "test", "failure", title="1 failed",
                            log=b"FAILED tests/test_hello.py::test_greet - AssertionError\n",
                            annotations=[Annotation("tests/test_hello.py", 4, "AssertionError")])
    world.model.script(
        reply(tool_use("str_replace_based_edit_tool", {
            "command": "str_replace", "path": "/workspace/hello.py", "old_str": "def greet",
            "new_str": f"def greet_ci{n}"})),
        reply(text("Done.")), reply(text("Fixed what CI reported.")))

    def run() -> None:
        status, answer = world.deliver("check_suite",
                                       ci_payloads.check_suite_completed(github, job.check_run.suite))
        if status != 202:
            raise SystemExit(f"delivery answered {status}: {answer}")
        world.drain()

    calls = calls_during(world, run)
    if github.branch_sha(CI_REPO, branch) == sha:
        raise SystemExit("the CI round pushed nothing; see the calls below:\n" + table(calls))
    return calls


RERUN_REPO = "rerun-org/hello"


@scenario("CI flaky re-run")
def ci_flaky_rerun(world: World, n: int) -> list[Call]:
    """CI fails on the commit Orca pushed, in an installation that granted ``actions: write``:
    the failure's delivery re-runs the job, and the re-run's passing delivery reports it flaky
    (no round). Each repetition is a new issue's pull request, since a commit is re-run once."""
    github = world.github
    if n == 1:
        installation_id = github.add_installation("rerun-org", {**CI_PERMISSIONS,
                                                                "actions": "write"})
        repo = github.add_repo(RERUN_REPO, installation_id, private=True, files=HELLO_FILES)
        github.set_permission(RERUN_REPO, "octocat", "write")
        world.rerun_scene = Scene(installation_id, repo, 0, github.add_user("octocat"))
    number = github.add_issue(RERUN_REPO, f"Fix the greeting typo {n}", "helo", "octocat",
                              labels=["agent"])
    scene = replace(world.rerun_scene, number=number)
    script_fix(world.model)
    world.deliver("issues", labeled_payload(github, scene))
    world.drain()
    pull = max((p for p in pulls(github) if p.repo.id == scene.repo["id"]),
               key=lambda p: p.number)
    sha = github.branch_sha(RERUN_REPO, pull.pull.head_ref)
    job = github.ci.add_job(RERUN_REPO, sha, "test", "failure", title="1 failed",
                            log=b"FAILED tests/test_net.py::test_fetch - TimeoutError\n",
                            rerun_waits=True)

    def run() -> None:
        for finished in (job, None):
            if finished is None:
                finished = github.ci.latest_job(job)
                github.ci.complete(finished, "success")
            status, answer = world.deliver(
                "check_suite", ci_payloads.check_suite_completed(github, finished.check_run.suite))
            if status != 202:
                raise SystemExit(f"delivery answered {status}: {answer}")
            world.drain()

    calls = calls_during(world, run)
    if github.ci.store.reruns[-1:] != [job.id] or github.branch_sha(RERUN_REPO,
                                                                     pull.pull.head_ref) != sha:
        raise SystemExit("the failure was not re-run once and left alone:\n" + table(calls))
    return calls


@scenario("pull request review")
def pull_request_review(world: World, n: int) -> list[Call]:
    """`/agent review` on a person's pull request (#17): one review with two inline comments
    and one summary finding; from the second on, a re-review of a new push that resolves the
    earlier thread it fixed."""
    github = world.github
    if n == 1:
        world.reviewed = pull_to_review(github)
    rs = world.reviewed
    steps = [finding("major", "calc.py", 7, f"Bug {n}"), finding("nit", "calc.py", 5, f"Nit {n}"),
             finding("minor", "README.md", 1, f"Docs {n}")]
    if n > 1:
        github.push_commit(rs.full_name, BRANCH, {"calc.py": CHANGED + f"# push {n}\n"}, f"Push {n}")
        steps.append(tool_use("resolve_thread", {"thread": 1, "why": "Fixed."}))
    world.model.script(reply(*steps), reply(text("Reviewed.")))

    def run() -> None:
        comment = github.add_comment(rs.full_name, rs.number, "/agent review", "octocat")
        status, answer = world.deliver("issue_comment", comment_payload(
            github, rs.scene, rs.number, comment, on_pull_request=True))
        if status != 202:
            raise SystemExit(f"delivery answered {status}: {answer}")
        world.drain()

    calls = calls_during(world, run)
    if len(reviews_by_orca(github)) != n:
        raise SystemExit("no review was posted; see the calls below:\n" + table(calls))
    return calls


# -- counting and printing -------------------------------------------------------------------

def is_rest(call: Call) -> bool:
    """A REST call, or a GraphQL query (review threads): both count against the App's limits."""
    return call.path in (API_PREFIX, GRAPHQL) or call.path.startswith(API_PREFIX + "/")


def is_write(call: Call) -> bool:
    """Anything but a read; a GraphQL query is a POST that writes nothing."""
    return is_rest(call) and call.method != "GET" and call.path != GRAPHQL


def _label(call: Call) -> str:
    if re.search(r"/app/installations/\d+/access_tokens$", call.path):
        return "token mint"
    return "write" if is_write(call) else ""


def table(calls: list[Call]) -> str:
    """Every REST call in order, then a one-line summary of git's requests."""
    rest = [c for c in calls if is_rest(c)]
    lines = [f"  {'#':>2}  {'method':<6}  {'status':>6}  {'auth':<5}  {'':<10}  path"]
    for i, c in enumerate(rest, 1):
        lines.append(f"  {i:>2}  {c.method:<6}  {c.status:>6}  {c.auth:<5}  {_label(c):<10}  "
                     f"{c.path.removeprefix(API_PREFIX)}")
    git = [c for c in calls if not is_rest(c)]
    if git:
        kinds = sorted({re.sub(r"^.*\.git", "", c.path)
                        + "".join(f"?service={v}" for v in c.query.values()) for c in git})
        lines.append(f"  git over smart HTTP: {len(git)} requests ({', '.join(kinds)})")
    return "\n".join(lines)


def summary(name: str, n: int, calls: list[Call]) -> str:
    rest = [c for c in calls if is_rest(c)]
    writes = [c for c in rest if is_write(c)]
    mints = [c for c in writes if _label(c) == "token mint"]
    line = (f"{name}, run {n}: {len(rest)} API calls, {len(writes)} writes "
            f"({len(mints)} token mints, {len(writes) - len(mints)} content writes)")
    if name in TARGETS:
        most_calls, most_writes = TARGETS[name]
        line += (f"; targets <= {most_calls} calls {'met' if len(rest) <= most_calls else 'NOT MET'},"
                 f" <= {most_writes} writes {'met' if len(writes) <= most_writes else 'NOT MET'}")
    return line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2,
                        help="repetitions per scenario, in one world (the first has cold caches)")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    args = parser.parse_args()
    print(f"machine: {machine()}")
    for name in args.scenario or list(SCENARIOS):
        with orca_world() as world:
            results = [SCENARIOS[name](world, n) for n in range(1, args.runs + 1)]
        for n, calls in enumerate(results, 1):
            print(summary(name, n, calls))
            print(table(calls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
