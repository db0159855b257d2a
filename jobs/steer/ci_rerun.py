"""Telling a flaky failure by re-running it (#15), before a CI round is spent on it.

Where the installation granted ``actions: write``, the failing GitHub Actions jobs of a commit
Orca pushed are re-run once (``POST .../actions/jobs/{id}/rerun``) instead of starting a round.
Their outcome arrives as the same ``check_suite``/``check_run`` news as any CI (jobs.steer.ci):
a re-run that passes is said on the tracking comment as a flaky failure, with no round spent;
one that fails again gets its round as before. Without ``actions: write`` nothing is re-run.

One re-run per commit, never two: the first delivery to claim it (``RunStore.claim_ci_rerun``)
records the check runs it re-ran. A delivery that read CI before the re-run began still sees
those very check runs failing, and waits; one that reads the re-run's outcome sees new ones.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from github.GithubException import GithubException

from jobs.context import RunContext
from jobs.github import report
from jobs.github.ci import CiState, Failure, rerun_job

RERUN_PERMISSIONS = {"actions": "write"}


@dataclass(frozen=True)
class RerunRecord:
    """What Orca re-ran on a commit: the failing check runs whose jobs it re-ran, by id and name."""

    check_runs: tuple[int, ...] = ()
    names: tuple[str, ...] = ()

    def encode(self) -> str:
        return json.dumps({"check_runs": self.check_runs, "names": self.names})

    @classmethod
    def decode(cls, raw: str) -> RerunRecord:
        data = json.loads(raw) if raw else {}
        return cls(tuple(data.get("check_runs", ())), tuple(data.get("names", ())))

    @classmethod
    def of(cls, failures: Sequence[Failure]) -> RerunRecord:
        return cls(tuple(f.check_run_id for f in failures if f.check_run_id is not None),
                   tuple(f.name for f in failures))


def recorded(ctx: RunContext, sha: str) -> RerunRecord | None:
    """What was re-run on ``sha`` of the trigger's repository, if anything was."""
    raw = ctx.store.ci_rerun(ctx.trigger.repository, sha)
    return RerunRecord.decode(raw) if raw is not None else None


def note(state: CiState, rerun: RerunRecord | None) -> str:
    """The CI line's words about the re-run, before anything is decided: under way while a
    check it re-ran has not finished, flaky when everything passed. Pure."""
    if rerun is None or not rerun.names:
        return ""
    if any(name in state.waiting_for for name in rerun.names):
        return report.ci_rerunning(rerun.names)
    return report.ci_flaky_on_rerun(rerun.names) if state.state == "passed" else ""


def waiting(rerun: RerunRecord, failing: Sequence[Failure]) -> bool:
    """Whether these failures were read before the re-run began: a check run it re-ran is
    among them (a re-run's outcome comes as new check runs). Pure."""
    return any(f.check_run_id in rerun.check_runs for f in failing)


def outcome(rerun: RerunRecord, failing: Sequence[Failure]) -> list[str]:
    """What the round's words say of the re-run: which re-run checks passed, which failed
    again. Pure."""
    now = {f.name for f in failing}
    passed = [name for name in rerun.names if name not in now]
    again = [name for name in rerun.names if name in now]
    return ([report.ci_flaky_on_rerun(passed)] if passed else []) + (
        [report.ci_failed_on_rerun(again)] if again else [])


def rerun_once(ctx: RunContext, sha: str, failing: Sequence[Failure]) -> str | None:
    """Re-run the failing Actions jobs of ``sha`` once, if the installation lets Orca: the CI
    line's words while they run (no round now), or None when a round may go ahead."""
    jobs = [f for f in failing if f.job_id is not None and f.check_run_id is not None]
    if not jobs or not _may_rerun(ctx):
        return None
    repository = ctx.trigger.repository
    claim = RerunRecord.of(jobs).encode()
    if (theirs := ctx.store.claim_ci_rerun(repository, sha, claim)) is not None:
        claimed = RerunRecord.decode(theirs)  # another delivery re-ran, or is re-running, them
        return report.ci_rerunning(claimed.names) if waiting(claimed, failing) else None
    started = []
    try:
        client = ctx.client(ctx.mint(RERUN_PERMISSIONS))
        for failure in jobs:
            rerun = rerun_job(client, repository, failure.job_id or 0)
            if rerun.started:
                started.append(failure)
            else:
                ctx.log("could not re-run %s at %s: %s", failure.name, sha[:7], rerun.why)
    except GithubException as exc:  # no token with actions: write after all
        ctx.log("could not re-run at %s: %s", sha[:7], exc.status)
    finally:  # the claim must not keep naming check runs that were not re-run
        ctx.store.record_ci_rerun(repository, sha, RerunRecord.of(started).encode())
    return report.ci_rerunning([f.name for f in started]) if started else None


def _may_rerun(ctx: RunContext) -> bool:
    """Whether the installation granted ``actions: write`` (an App-level read, made only when
    a commit of Orca's has failed)."""
    try:
        granted = ctx.app.installation_permissions(ctx.trigger.installation_id)
    except GithubException as exc:
        ctx.log("could not read the installation's permissions: %s", exc.status)
        return False
    return granted.get("actions") == "write"
