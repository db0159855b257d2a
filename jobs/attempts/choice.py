"""The attempts of one request and the choice between them, shared by runs on GitHub
(jobs.run.attempts) and `orca solve --attempts` (jobs.local).

By the tests first (an attempt with a regression against the base is never picked over one
without), then one judging model call (jobs.attempts.judge), then the smaller diff.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ModelUnavailable
from core.git import git
from core.pricing import Usage, cost
from core.settings import AgentSettings
from jobs.agent.loop import Emit
from jobs.agent.request import request
from jobs.agent.session import SessionResult, model_client, worktree_diff
from jobs.attempts import judge
from jobs.attempts.words import Row
from jobs.workspace import Workspace
from jobs.workspace.commit import Commit


@dataclass
class Attempt:
    """One attempt: its worktree, and once it ended, its session and commit or its failure."""

    number: int
    workspace: Workspace
    state: str = "queued"
    session: SessionResult | None = None
    done: Commit | None = None
    error: str = ""
    added: int = 0
    removed: int = 0
    branch: str = ""

    @property
    def changed(self) -> bool:
        return self.done is not None and self.done.sha is not None

    @property
    def regressed(self) -> bool:
        return bool(self.session and self.session.checks and self.session.checks.regressed)

    def row(self) -> Row:
        checks = self.session.checks if self.session else None
        return Row(self.number, self.state, checks.verdict if checks else None,
                   bool(checks and checks.detected), self.added, self.removed,
                   self.session.agent.cost if self.session else None, self.branch, self.error)


def settle(attempt: Attempt, session: SessionResult, done: Commit) -> None:
    """An attempt whose session ended and whose work is committed: done or no changes, and
    its diff's size."""
    attempt.session, attempt.done = session, done
    attempt.state = "done" if attempt.changed else "no changes"
    if attempt.changed:
        attempt.added, attempt.removed = size(attempt.workspace, done.sha)


def size(workspace: Workspace, sha: str) -> tuple[int, int]:
    """Lines added and removed between the base and `sha` (binary files count as none)."""
    out = git("diff", "--numstat", "--no-renames", workspace.base_sha, sha, cwd=workspace.mirror,
              env={"GIT_DIR": str(workspace.mirror)})
    added = removed = 0
    for line in out.splitlines():
        plus, minus, _ = line.split("\t", 2)
        added += int(plus) if plus.isdigit() else 0
        removed += int(minus) if minus.isdigit() else 0
    return added, removed


def choose(settings: AgentSettings, request_text: str, changed: list[Attempt],
           emit: Emit) -> tuple[Attempt, str, float | None]:
    """(the winner, how it was picked, the judge's cost) among attempts that changed files."""
    clean = [a for a in changed if not a.regressed]
    tested = any(a.session.checks and a.session.checks.detected for a in changed)
    pool = clean or changed
    if len(pool) == 1:
        only = pool[0]
        if not clean:
            return only, "Every attempt broke tests that passed at the base.", None
        why = ("It is the only attempt without a test regression." if len(changed) > 1
               else "It is the only attempt that changed files.")
        return only, why, None
    by_number = {a.number: a for a in pool}
    candidates = [judge.Candidate(a.number, _diff(a), a.session.verification or "", a.added + a.removed)
                  for a in pool]
    answer, dollars, failure = _ask_judge(settings, request_text, candidates, emit)
    chosen, reason = judge.read(answer, [c.number for c in candidates])
    pick = judge.smallest(candidates, chosen)
    among = "among the attempts without a test regression" if clean and tested else "among the attempts"
    if not tested:
        how = "No test command: the judge alone decided, on the diffs."
    elif not clean:
        how = "Every attempt broke tests that passed at the base; the judge compared them."
    else:
        how = ""
    if failure:
        how += f" The judge could not be asked ({failure}); the smallest diff {among} won."
    elif len(chosen) > 1:
        tied = ", ".join(str(k) for k in chosen)
        how += f" The judge could not choose between attempts {tied}; the smaller diff won."
    else:
        how += f" A judging model call preferred it {among}."
    if reason:
        how += f" Its reason: “{reason}”"
    return by_number[pick.number], how.strip(), dollars


def _diff(attempt: Attempt) -> str:
    return worktree_diff(attempt.workspace, cap=judge.DIFF_CAP, left_out=attempt.session.left_out)


def _ask_judge(s: AgentSettings, request_text: str, candidates: list[judge.Candidate],
               emit: Emit) -> tuple[str, float | None, str]:
    """(its answer, its cost, why it could not be asked or "")."""
    message = judge.prompt(request_text, candidates)
    try:
        response = request(model_client(s), s.model, judge.SYSTEM,
                           [{"role": "user", "content": [{"type": "text", "text": message}]}],
                           judge.JUDGE_MAX_TOKENS, one_off=True)
    except ModelUnavailable as exc:
        return "", 0.0, str(exc).rstrip(".")
    usage = Usage.of(response.usage)
    dollars = cost(s.model, usage, s.prices)
    emit("model", {"turn": 0, "purpose": "judge", "stop_reason": response.stop_reason,
                   "usage": response.usage.model_dump(),
                   "spent": {"turns": 0, "tokens": usage.total, "dollars": dollars, "minutes": 0}})
    text = "\n".join(b.text for b in response.content if b.type == "text")
    return text, dollars, ""
