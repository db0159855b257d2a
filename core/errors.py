"""The few named exceptions that end a run. Each carries the message the user reads.

They are caught in one place, the job entry point (`jobs.run`), which turns them into
the tracking comment's final words.
"""

from __future__ import annotations


class RunError(Exception):
    """A run cannot go on. `str(error)` is shown to the user in the tracking comment."""

    retry_hint = "To retry, comment `/agent retry` (or remove the label and add it again)."


class NotAllowed(RunError):
    """The requester may not start runs here (no write access, or a bot)."""


class ModelUnavailable(RunError):
    """The model API failed after the SDK's own retries."""


class WorkspaceError(RunError):
    """git could not fetch, check out, commit or push."""


class GitHubUnreachable(RunError):
    """GitHub refused, dropped or did not answer the connection, after backing off."""

    retry_hint = "When GitHub can be reached again, comment `/agent retry`."

    def __init__(self) -> None:
        super().__init__("GitHub could not be reached (the connection was refused, dropped or "
                         "timed out, several times over a few seconds).")


class PublishError(RunError):
    """The pull request could not be opened or updated."""


class Cancelled(RunError):
    """Someone stopped the run (`/agent stop`, the Stop button, the label removed, closed)."""

    retry_hint = "To run it again, comment `/agent retry`."


class WorkerLost(RunError):
    """The worker process running the run died (killed, out of memory, machine lost)."""


class SandboxUnavailable(RunError):
    """The sandbox cannot run here, or could not set up a command; the message says why.

    A RunError, so a command that cannot get its network mid-run ends the run with a comment
    saying so, instead of running without isolation."""

    retry_hint = ("Ask the operators to fix the workers' sandbox (the reason is above), then "
                  "comment `/agent retry`.")


class UnexpectedAnswer(RunError):
    """The model stopped for a reason Orca does not know (one newer than this code).

    Taking such an answer as the end of the work could publish it unfinished, so the run ends
    with a comment instead, and the reason is logged for the operators."""

    retry_hint = ("To retry, comment `/agent retry`; if it happens again, the operators may need "
                  "a newer Orca.")
