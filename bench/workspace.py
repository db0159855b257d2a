"""Run start-up on a large repository: from the moment a worker takes the run's job to the
moment the model receives its first request, first with a cold mirror cache, then warm.

The repository (50,000 files, 3,000 commits by default; bench/_repo.py) is generated into the
fake GitHub's bare repo, which serves it over smart HTTP (`git http-backend`). Each run is a
real labelled issue: delivery → acknowledgement → run job, drained by an RQ burst worker, with
the real sandbox. The model answers at once that nothing needs changing, so each run makes one
model request. Timestamps: the RQ job's `started_at` (dequeue), the run's `workspace` event
(mirror refreshed, worktree ready) and the fake model's arrival time. The first run checks
out a worktree for the repository's pool (ORCA_WORKTREE_POOL); the next ones borrow it back,
reset to their base commit.
Target: a warm start under 1 s, at most a tenth of the cold one.

    .venv/bin/python bench/workspace.py [--files 50000] [--commits 3000] [--runs 4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rq.exceptions import NoSuchJobError
from rq.job import Job

from bench._repo import generate
from bench._servers import machine
from bench._world import World, orca_world
from core.git import git
from core.runs import RunStore
from core.settings import load_settings
from jobs.github import RUN_PERMISSIONS, GitHubApp
from jobs.workspace import (
    Workspace,
    add_worktree,
    borrow_worktree,
    refresh_mirror,
    remove_worktree,
    return_worktree,
)
from tests.e2e.conftest import Scene, labeled_payload
from tests.fakes.model import reply, text

REPOSITORY = "octo-org/big"


@dataclass
class Startup:
    """One run's start-up, in seconds from the worker taking the job."""

    status: str
    to_workspace: float | None
    to_model: float | None


def make_repository(world: World, files: int, commits: int) -> Scene:
    """octo-org/big with the generated history, and octocat allowed to write to it."""
    github = world.github
    installation = github.add_installation("octo-org")
    repo = github.add_repo(REPOSITORY, installation, {"README.md": "# Big\n"}, private=True)
    generate(github.git_dir(REPOSITORY), files, commits)
    requester = github.add_user("octocat")
    github.set_permission(REPOSITORY, "octocat", "write")
    return Scene(installation, repo, 0, requester)


def one_run(world: World, scene: Scene, n: int) -> Startup:
    """Label a fresh issue, drain the queues, and read the run's timestamps."""
    number = world.github.add_issue(REPOSITORY, f"Task {n}", "Look at module 7.", "octocat",
                                    labels=["agent"])
    world.model.script(reply(text("Module 7 already does what the issue asks; nothing to change.")))
    issue = Scene(scene.installation_id, scene.repo, number, scene.requester)
    status, answer = world.deliver("issues", labeled_payload(world.github, issue))
    if status != 202:
        raise SystemExit(f"delivery answered {status}: {answer}")
    world.drain()
    run_id = answer["run"]
    record = RunStore(world.redis).get(run_id) or {}
    dequeued = _dequeued_at(world, run_id, record)
    events = {e["kind"]: e["at"] for e in RunStore(world.redis).events(run_id)}
    first = world.model.first_after(dequeued)
    return Startup(record.get("status", "?"),
                   events["workspace"] - dequeued if "workspace" in events else None,
                   first - dequeued if first is not None else None)


def breakdown(world: World, scene: Scene) -> dict[str, float]:
    """Orca's workspace steps timed one by one on the warm mirror: a fresh worktree (what every
    run paid before the pool, and what ORCA_WORKTREE_POOL=0 still pays) against a kept one
    lent to another base commit and given back."""
    settings = load_settings()
    token = GitHubApp(settings).mint_token(scene.installation_id, scene.repo["id"],
                                           RUN_PERMISSIONS)
    # A base 20 commits behind main, as a run on an older branch would have.
    git("branch", "--force", "bench-older", "main~20", cwd=world.github.git_dir(REPOSITORY))
    timer = Timer()
    mirror = timer("warm git fetch (refresh_mirror)", lambda: refresh_mirror(
        settings.data_dir, REPOSITORY, settings.clone_url(REPOSITORY), token))
    fresh = timer("fresh worktree (add_worktree)", lambda: add_worktree(
        mirror, settings.data_dir, "bench-fresh", "bench/fresh", "main"))
    timer("remove_worktree", lambda: remove_worktree(fresh))

    def borrow(run_id: str, base: str) -> Workspace:
        return borrow_worktree(mirror, settings.data_dir, run_id, "bench/kept", base,
                               settings.worktree_pool)

    lent = timer("kept worktree lent at main~20 (borrow_worktree: reset + clean)",
                 lambda: borrow("bench-older", "bench-older"))
    (lent.path / "scratch.txt").write_text("left behind\n")
    timer("kept worktree given back (return_worktree: tidy)", lambda: return_worktree(lent))
    again = timer("kept worktree lent at main again", lambda: borrow("bench-main", "main"))
    return_worktree(again)
    return timer.seconds


class Timer:
    """Times named steps, keeping the figures in order."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, step):
        started = time.monotonic()
        result = step()
        self.seconds[name] = time.monotonic() - started
        return result


def _dequeued_at(world: World, run_id: str, record: dict) -> float:
    """When the worker took the run's job (RQ's started_at), else when the job began."""
    try:
        started = Job.fetch(f"run-{run_id}", connection=world.redis).started_at
    except NoSuchJobError:  # the job is gone or named otherwise: the run's own record says
        started = None
    if started is None:
        return float(record["started_at"])
    if started.tzinfo is None:  # RQ stores UTC without saying so
        started = started.replace(tzinfo=UTC)
    return started.timestamp()


def _filesystem(path: str) -> str:
    """The filesystem type under `path` (ext4, tmpfs...): file creation speed differs a lot."""
    found = subprocess.run(["df", "--output=fstype", path], capture_output=True, text=True,
                           check=False)
    lines = found.stdout.split()
    return lines[-1] if found.returncode == 0 and lines else "unknown"


def _seconds(value: float | None) -> str:
    return f"{value:7.2f}" if value is not None else "      -"


def report(runs: list[Startup], files: int, commits: int, generated: float, scratch: str) -> None:
    print(f"machine: {machine()}")
    print(f"data on: {scratch} ({_filesystem(scratch)})")
    print(f"repository: {files:,} files, {commits:,} commits (generated in {generated:.1f} s), "
          "served by the fake GitHub over smart HTTP")
    print("run  mirror  status    dequeue→workspace s  dequeue→first model request s")
    for n, run in enumerate(runs, 1):
        kind = "cold" if n == 1 else "warm"
        print(f"{n:>3}  {kind:<6}  {run.status:<8}  {_seconds(run.to_workspace):>19}  "
              f"{_seconds(run.to_model):>29}")
    cold = runs[0].to_model
    warm = [r.to_model for r in runs[1:] if r.to_model is not None]
    if cold is None or not warm:
        print("targets: not measured (a run did not reach the model)")
        return
    best, worst = min(warm), max(warm)
    print(f"warm: {best:.2f}–{worst:.2f} s; cold: {cold:.2f} s; warm/cold {worst / cold:.2f}")
    print(f"targets: warm < 1 s {'met' if worst < 1 else 'NOT MET'}, "
          f"warm <= cold / 10 {'met' if worst <= cold / 10 else 'NOT MET'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--commits", type=int, default=3_000)
    parser.add_argument("--runs", type=int, default=4, help="the first is cold, the rest warm")
    parser.add_argument("--scratch", help="where the repositories and ORCA_DATA_DIR live "
                        "(default: the temporary directory; /dev/shm for memory)")
    args = parser.parse_args()
    with orca_world(args.scratch) as world:
        started = time.monotonic()
        scene = make_repository(world, args.files, args.commits)
        generated = time.monotonic() - started
        runs = [one_run(world, scene, n) for n in range(1, args.runs + 1)]
        steps = breakdown(world, scene)
    report(runs, args.files, args.commits, generated, args.scratch or tempfile.gettempdir())
    print("Orca's workspace steps timed alone on the warm mirror:")
    for name, seconds in steps.items():
        print(f"  {seconds:7.2f} s  {name}")
    return 0 if all(r.to_model is not None for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
