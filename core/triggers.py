"""Pure decisions: what a webhook event asks Orca to do, from the payload alone.

Nothing here does I/O. Each function takes the event name and the parsed payload and
returns a `Trigger` (start a run, or stop, retry, help, cancel) or `None` (nothing to
do), so the
webhook view can answer GitHub within its 10-second budget and the table tests can
cover every case without a network.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from typing import Any

from core.commands import parse_command

# Events Orca acts on. manifest.yml subscribes to all but those GitHub sends every App
# unasked ("You cannot manually subscribe to this event": docs.github.com/en/webhooks/
# webhook-events-and-payloads#installation); a test keeps the three in step.
ALWAYS_DELIVERED = frozenset({"installation", "installation_repositories"})
HANDLED_EVENTS = frozenset({"issues", "issue_comment", "pull_request", "pull_request_review",
                            "pull_request_review_comment", "check_suite", "check_run",
                            "status"}) | ALWAYS_DELIVERED



class Kind(StrEnum):
    """What a trigger asks for."""

    LABEL = "label"
    """The `agent` label on an issue: a run."""
    COMMAND = "command"
    """`/agent <request>` on an issue or pull request: a run."""
    REVIEW = "review"
    """A review on Orca's pull request: a run that answers it."""
    STOP = "stop"
    RETRY = "retry"
    HELP = "help"
    CANCEL = "cancel"
    """The label removed, or the issue or PR closed: stop its runs."""
    REOPENED = "reopened"
    """A pull request reopened: if Orca opened it, its outcome is open again (core.outcomes)."""
    CI = "ci"
    """CI finished (or moved) on a commit of an `agent/` branch: see whether Orca must act."""
    FIX_CI = "fix_ci"
    """A CI round: the agent fixes what failed on a pull request's head commit (a run)."""
    USE_ATTEMPT = "use_attempt"
    """`/agent use attempt <k>`: the pull request moves to another attempt (a run, no agent)."""
    PR_REVIEW = "pr_review"
    """Orca reviews a pull request, a fork's too: a read-only run that posts a GitHub review
    (`/agent review`, or automatically when the base branch's config asks)."""
    PLAN = "plan"
    """`/agent plan` (or the `<label>:plan` label) on an issue: a read-only run that answers
    with a plan, recorded for `go` (jobs.run.plan)."""
    GO = "go"
    """`/agent go` on an issue with Orca's plan: a run that follows it, or its sub-issues
    opened and started (jobs.steer.plans)."""
    PULL_ACTIVITY = "pull_activity"
    """A pull request opened, marked ready or pushed to: the fast job sees whether the base
    branch's `.github/orca.yml` asks for an automatic review (jobs.steer.auto_review)."""


# Kinds that start a run; the others (stop, retry, help, cancel) are handled on the fast
# queue without one.
RUN_KINDS = (Kind.LABEL, Kind.COMMAND, Kind.REVIEW, Kind.FIX_CI, Kind.PR_REVIEW, Kind.USE_ATTEMPT,
             Kind.PLAN)
# The label that asks for a plan instead of a run: `<trigger label>:plan`.
PLAN_LABEL_SUFFIX = ":plan"
# What a pull request does that may start an automatic review.
PULL_ACTIVITY_ACTIONS = ("opened", "ready_for_review", "synchronize")
# Reviews that ask for something: an approval or a dismissal does not.
REVIEW_STATES = ("changes_requested", "commented")
# Orca's branches; a review on any other branch is a human's PR.
AGENT_BRANCH_PREFIX = "agent/"


class PayloadError(ValueError):
    """The payload lacks a key or has a value of the wrong type (the view answers 400)."""


@dataclass(frozen=True)
class Trigger:
    """What a job needs to find its target again, and the words that asked, as signed.

    The request, title and body come from the payload GitHub signed at the trigger, so an
    edit made after it cannot change what the agent is told.
    """

    kind: Kind
    installation_id: int
    repository: str
    """`owner/name`."""
    repository_id: int
    number: int
    """The issue or pull request number."""
    requester: str
    """The login of the person who asked."""
    requester_id: int
    is_pull_request: bool = False
    comment_id: int | None = None
    """The comment that holds the command (👀 goes there)."""
    on_diff: bool = False
    """The command is in a review comment on a line of the diff, not in the conversation."""
    review_id: int | None = None
    request: str = ""
    """The command's text, the review's body, the unknown subcommand, or why to cancel."""
    title: str = ""
    body: str = ""
    at: str = ""
    """When the trigger happened (ISO 8601): later comments and edits are not context."""
    push: bool = False
    """For stop: push the work so far as a draft."""
    head_sha: str = ""
    """For CI: the commit CI ran on; for a pull request's activity, its head then."""
    auto: bool = False
    """A review Orca started by itself, from the base branch's config (no one asked)."""
    thread_id: int | None = None
    """For `/agent fix` in a review thread: the thread's first comment (Orca's finding)."""
    attempts: int = 1
    """For a command: how many attempts at once (`--attempts N`); a label's come from the
    repository's config."""
    attempt: int = 0
    """For use_attempt: the attempt the pull request moves to."""
    start_from: str = ""
    """For a sub-task that waits for another: that one's branch, where its work starts (so it
    builds on that code) unless the issue has a branch of its own already."""
    merged: bool = False
    """For a pull request closed: whether it was merged (its outcome, core.outcomes)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain values only, as jobs' arguments and run records keep them."""
        return {**asdict(self), "kind": self.kind.value}

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", Kind(self.kind))  # "label" is Kind.LABEL

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trigger:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def target(self) -> str:
        """One name for the issue or PR: runs on the same target never overlap."""
        return f"{self.repository}#{self.number}"

    @property
    def starts_run(self) -> bool:
        return self.kind in RUN_KINDS


def get(payload: dict[str, Any], path: str, kind: type) -> Any:
    """`payload["a"]["b"]` for path "a.b", checked against `kind`, or PayloadError."""
    value: Any = payload
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise PayloadError(f"payload has no {path}")
        value = value[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise PayloadError(f"payload {path} is not {kind.__name__}")
    if isinstance(value, str) and not is_unicode(value):
        raise PayloadError(f"payload {path} is not valid Unicode")
    return value


def is_unicode(text: str) -> bool:
    """False for a lone surrogate (JSON allows "\\ud800"), which Redis cannot be sent."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def is_bot(sender: dict[str, Any]) -> bool:
    """Bots (Orca itself included) never start runs: GitHub echoes an App's own actions."""
    login = sender.get("login")
    return sender.get("type") == "Bot" or (isinstance(login, str) and login.endswith("[bot]"))


def trigger_for(event: str, payload: dict[str, Any], *, label: str) -> Trigger | None:
    """The trigger carried by this delivery, or None when it asks nothing of Orca."""
    if not isinstance(payload, dict):
        raise PayloadError("payload is not a JSON object")
    action = payload.get("action")
    if event == "issues" and action == "labeled":
        return _issue_labeled(payload, label)
    if event == "issues" and action == "unlabeled":
        return _label_removed(payload, label)
    if event in ("issues", "pull_request") and action == "closed":
        return _closed(payload, "issue" if event == "issues" else "pull_request")
    if event == "pull_request" and action == "reopened":
        return _reopened(payload)
    if event == "pull_request" and action in PULL_ACTIVITY_ACTIONS:
        return pull_activity(payload)
    if event == "issue_comment" and action == "created":
        return comment_trigger(payload)
    if event == "pull_request_review_comment" and action == "created":
        return diff_comment_trigger(payload)
    if event == "pull_request_review" and action == "submitted":
        return review_trigger(payload)
    if event in ("check_suite", "check_run") and action == "completed":
        return ci_trigger(payload, event)
    if event == "status" and get(payload, "state", str) != "pending":
        return status_trigger(payload)
    return None


def _ci_fields(payload: dict[str, Any], number: int, sha: str, at: str) -> dict[str, Any]:
    """A CI event's trigger: the sender is CI itself (a bot, often): it starts nothing on its
    own; the fast job decides, and a round runs for whoever asked for the pushed work."""
    sender = get(payload, "sender", dict)
    return {"kind": Kind.CI, "installation_id": get(payload, "installation.id", int),
            "repository": get(payload, "repository.full_name", str),
            "repository_id": get(payload, "repository.id", int), "number": number,
            "requester": get(sender, "login", str), "requester_id": get(sender, "id", int),
            "is_pull_request": True, "head_sha": sha, "at": at}


def ci_trigger(payload: dict[str, Any], event: str) -> Trigger | None:
    """A check suite or check run that completed on an `agent/` branch with a pull request."""
    item = get(payload, event, dict)
    suite = item if event == "check_suite" else get(item, "check_suite", dict)
    branch = suite.get("head_branch")
    if not isinstance(branch, str) or not branch.startswith(AGENT_BRANCH_PREFIX):
        return None  # a person's branch, or a fork's (GitHub names none)
    pulls = get(item, "pull_requests", list)
    numbers = [p["number"] for p in pulls if isinstance(p, dict) and isinstance(p.get("number"), int)
               and not isinstance(p.get("number"), bool)]
    if not numbers:
        return None
    at = get(item, "updated_at" if event == "check_suite" else "completed_at", str)
    return Trigger(**_ci_fields(payload, numbers[0], get(item, "head_sha", str), at))


def status_trigger(payload: dict[str, Any]) -> Trigger | None:
    """A commit status that finished on an `agent/` branch; its pull request is looked up by
    the fast job (the event names none)."""
    branches = get(payload, "branches", list)
    names = [b.get("name") for b in branches if isinstance(b, dict)]
    if not any(isinstance(n, str) and n.startswith(AGENT_BRANCH_PREFIX) for n in names):
        return None
    return Trigger(**_ci_fields(payload, 0, get(payload, "sha", str), get(payload, "updated_at", str)))


def base_fields(payload: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """The fields every trigger has, from the payload and its issue or pull request."""
    sender = get(payload, "sender", dict)
    return {
        "installation_id": get(payload, "installation.id", int),
        "repository": get(payload, "repository.full_name", str),
        "repository_id": get(payload, "repository.id", int),
        "number": get(item, "number", int),
        "requester": get(sender, "login", str),
        "requester_id": get(sender, "id", int),
        "title": get(item, "title", str),
        "body": text_or_empty(item, "body"),
    }


def text_or_empty(item: dict[str, Any], key: str) -> str:
    """A nullable text field (issue, comment and review bodies are null when empty)."""
    value = item.get(key)
    if value is not None and not isinstance(value, str):
        raise PayloadError(f"payload {key} is not str")
    if value and not is_unicode(value):
        raise PayloadError(f"payload {key} is not valid Unicode")
    return value or ""


def _issue_labeled(payload: dict[str, Any], label: str) -> Trigger | None:
    """The trigger label asks for a run; `<label>:plan` for a plan."""
    name = get(payload, "label.name", str)
    if name not in (label, label + PLAN_LABEL_SUFFIX) or is_bot(get(payload, "sender", dict)):
        return None
    issue = get(payload, "issue", dict)
    if get(issue, "state", str) != "open":
        return None
    return Trigger(kind=Kind.LABEL if name == label else Kind.PLAN, is_pull_request="pull_request" in issue,
                   at=get(issue, "updated_at", str), **base_fields(payload, issue))


def _label_removed(payload: dict[str, Any], label: str) -> Trigger | None:
    if get(payload, "label.name", str) != label or is_bot(get(payload, "sender", dict)):
        return None
    issue = get(payload, "issue", dict)
    fields_ = base_fields(payload, issue)
    why = f"the `{label}` label was removed by @{fields_['requester']}"
    return Trigger(kind=Kind.CANCEL, is_pull_request="pull_request" in issue, request=why, **fields_)


def _closed(payload: dict[str, Any], key: str) -> Trigger:
    """Closing an issue or PR cancels its run, whoever closed it (a bot too)."""
    item = get(payload, key, dict)
    fields_ = base_fields(payload, item)
    what = "pull request" if key == "pull_request" else "issue"
    why = f"the {what} was closed by @{fields_['requester']}"
    if key == "pull_request":  # when and how it ended: Orca's own pull requests' outcome
        fields_.update(at=get(item, "closed_at", str), merged=item.get("merged") is True)
    return Trigger(kind=Kind.CANCEL, is_pull_request=key == "pull_request", request=why, **fields_)


def _reopened(payload: dict[str, Any]) -> Trigger:
    """A pull request reopened, by whoever (a bot too): it starts nothing; the fast job
    records Orca's own pull request as open again, as of its `updated_at`."""
    pull = get(payload, "pull_request", dict)
    fields_ = base_fields(payload, pull)
    return Trigger(kind=Kind.REOPENED, is_pull_request=True, at=get(pull, "updated_at", str),
                   request=f"the pull request was reopened by @{fields_['requester']}", **fields_)


def pull_activity(payload: dict[str, Any]) -> Trigger | None:
    """A pull request opened, marked ready or pushed to, by a person: the fast job decides
    from the base branch's config whether to review it. Its author is who the review is for
    (`review.authors` is about them); a bot's pull request or push starts nothing."""
    pull = get(payload, "pull_request", dict)
    author = get(pull, "user", dict)
    if is_bot(get(payload, "sender", dict)) or is_bot(author):
        return None
    fields_ = {**base_fields(payload, pull), "requester": get(author, "login", str),
               "requester_id": get(author, "id", int)}
    return Trigger(kind=Kind.PULL_ACTIVITY, is_pull_request=True, auto=True,
                   request=get(payload, "action", str), head_sha=get(pull, "head.sha", str),
                   at=get(pull, "updated_at", str), **fields_)


def comment_trigger(payload: dict[str, Any]) -> Trigger | None:
    """An `/agent` command in a new comment on an issue or pull request."""
    return _command_trigger(payload, "issue")


def diff_comment_trigger(payload: dict[str, Any]) -> Trigger | None:
    """An `/agent` command in a review comment on a line of a pull request's diff.

    The request carries the file, line and diff hunk it was written on. On Orca's own pull
    requests the review it belongs to is the trigger instead (one run per review).
    """
    return _command_trigger(payload, "pull_request")


def _command_trigger(payload: dict[str, Any], key: str) -> Trigger | None:
    """The command in `comment`, on the payload's issue or (`key` pull_request) diff line."""
    comment = get(payload, "comment", dict)
    on_diff = key == "pull_request"
    if is_bot(get(payload, "sender", dict)) or on_diff and _orca_pull(get(payload, key, dict)):
        return None
    command = parse_command(text_or_empty(comment, "body"))
    if command is None:
        return None
    item = get(payload, key, dict)
    request = command.unknown or ""
    if command.name in ("run", "fix_ci", "review", "plan", "go"):
        request = _on_diff_line(comment, command.text) if on_diff and command.text else command.text
    if command.name == "fix":
        if not on_diff or not isinstance(comment.get("in_reply_to_id"), int):
            command = replace(command, name="help", unknown="fix")
            request = "fix"
        else:  # in a thread: the acknowledgement checks the thread is one of Orca's review
            request = _on_diff_line(comment, FIX_REQUEST)
    kind = {"run": Kind.COMMAND, "review": Kind.PR_REVIEW, "fix": Kind.COMMAND,
            "plan": Kind.PLAN, "go": Kind.GO}.get(command.name)
    thread = comment.get("in_reply_to_id") if command.name == "fix" else None
    return Trigger(kind=kind or Kind(command.name), thread_id=thread,
                   is_pull_request=on_diff or "pull_request" in item, on_diff=on_diff,
                   comment_id=get(comment, "id", int), request=request, push=command.push,
                   attempts=command.attempts, attempt=command.attempt,
                   at=get(comment, "created_at", str), **base_fields(payload, item))


# `/agent fix` in a thread of Orca's review: the request; the thread's first comment (Orca's
# finding) is added when the run reads its task (jobs.task.read).
FIX_REQUEST = "Make the change Orca's review comment in this thread asks for."


def _on_diff_line(comment: dict[str, Any], text: str) -> str:
    """The request with the file, line and hunk of the diff it was written on."""
    where = f"`{get(comment, 'path', str)}` line {comment.get('line') or comment.get('original_line')}"
    hunk = text_or_empty(comment, "diff_hunk")
    return f"{text}\n\n(Written on {where} of the diff:)\n```diff\n{hunk}\n```"


def _orca_pull(pull: dict[str, Any]) -> bool:
    """Opened by an App from an `agent/` branch (the acknowledgement checks it is Orca)."""
    return get(pull, "head.ref", str).startswith(AGENT_BRANCH_PREFIX) and is_bot(get(pull, "user", dict))


def review_trigger(payload: dict[str, Any]) -> Trigger | None:
    """A review asking for changes on a pull request the App opened from an `agent/` branch.

    The payload cannot tell which App opened it; the acknowledgement checks it is Orca's.
    """
    review = get(payload, "review", dict)
    pull = get(payload, "pull_request", dict)
    if is_bot(get(payload, "sender", dict)) or get(review, "state", str).lower() not in REVIEW_STATES:
        return None
    if not _orca_pull(pull):
        return None
    return Trigger(kind=Kind.REVIEW, is_pull_request=True, review_id=get(review, "id", int),
                   request=text_or_empty(review, "body"), at=get(review, "submitted_at", str),
                   **base_fields(payload, pull))
