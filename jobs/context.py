"""What every step of a run shares: settings, the run store, the App, the event log and
the tracking comment.

Also the small edges the steps write through: the tracking comment, replies, and the
redacting event emitter. A step that needs only what was asked takes the `Trigger`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import redis
from github import Github
from github.GithubException import GithubException
from redis.exceptions import LockError, RedisError
from rq import get_current_job

from core import keys
from core.errors import RunError
from core.runs import RunStore, Status, ending_event
from core.settings import Settings, load_settings
from core.triggers import Trigger
from jobs.github import ACK_PERMISSIONS, GitHubApp, report
from jobs.github.calls import out_of_reach
from jobs.github.pacing import WritePacer

log = logging.getLogger("orca.run")
# Longer than any one paced comment edit takes.
COMMENT_LOCK_SECONDS = 60
# Installation and OAuth tokens as GitHub formats them; redacted even if we never saw them.
_TOKEN_PATTERN = re.compile(r"\b(gh[pousr]_[A-Za-z0-9_]{20,}|github_pat_[A-Za-z0-9_]{20,})")


@dataclass
class Redactor:
    """Replaces every known secret, and anything shaped like a GitHub token, with ***."""

    secrets: set[str] = field(default_factory=set)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 8:
            self.secrets.add(secret)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, "***")
        return _TOKEN_PATTERN.sub("***", value)

    def data(self, value: dict[str, Any]) -> dict[str, Any]:
        return json.loads(self.text(json.dumps(value, default=str)))


@dataclass
class RunContext:
    """One run's shared collaborators."""

    run_id: str
    trigger: Trigger
    settings: Settings
    store: RunStore
    app: GitHubApp
    redactor: Redactor
    tracking_comment_id: int | None = None
    """The comment the run edits from start to finish; None until it is acknowledged (and
    for the jobs that steer runs, which reply instead)."""

    @classmethod
    def load(cls, run_id: str, trigger: dict[str, Any]) -> RunContext:
        settings = load_settings()
        job = get_current_job()
        connection = job.connection if job else redis.Redis.from_url(settings.redis_url)
        redactor = Redactor()
        for secret in (settings.github_webhook_secret, settings.anthropic_api_key,
                       settings.github_client_secret, settings.session_secret,
                       settings.admin_token, settings.metrics_token):
            redactor.add(secret)
        for value in settings.setup_secret_values().values():
            redactor.add(value)
        for line in settings.private_key().splitlines():  # any line of it, should one show
            if not line.startswith("-----"):
                redactor.add(line.strip())
        store = RunStore(connection)
        record = store.get(run_id) or {}
        return cls(run_id, Trigger.from_dict(trigger), settings, store, GitHubApp(settings),
                   redactor, record.get("tracking_comment_id"))

    @property
    def redis(self) -> redis.Redis:
        return self.store.redis

    def mint(self, permissions: dict[str, str]) -> str:
        """A token for this run's repository only; remembered so it is redacted."""
        token = self.app.mint_token(self.trigger.installation_id, self.trigger.repository_id,
                                    permissions)
        self.redactor.add(token)
        return token

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        """Record one event in the run's transcript, secrets redacted."""
        self.store.add_event(self.run_id, kind, self.redactor.data(data))

    def client(self, token: str, pacer: WritePacer | None = None) -> Github:
        """A client for this run's installation, its writes paced with the installation's."""
        return self.app.client(token, pacer or self.pacer())

    def pacer(self) -> WritePacer:
        """Spaces this run's GitHub writes with its installation's (jobs.github.pacing)."""
        return WritePacer(self.redis, self.trigger.installation_id,
                          self.settings.github_write_interval)

    def client_for_replies(self) -> Github:
        """A client whose token can comment and react, nothing more."""
        return self.client(self.mint(ACK_PERMISSIONS))

    def reply(self, client: Github, body: str | None) -> None:
        """A new comment on the run's issue or PR (nothing when body is None)."""
        reply(client, self.trigger, None if body is None
              else report.linked(body, self.settings.public_url))

    def tracking_comment(self, client: Github) -> TrackingComment:
        """The run's tracking comment, its footer linked to the run's page when Orca knows
        its public address (ORCA_PUBLIC_URL)."""
        return TrackingComment(client, self.trigger.repository, self.tracking_comment_id or 0,
                               self.settings.public_url)

    def finish(self, status: Status, reason: str | None = None,
               event: dict[str, Any] | None = None, **outcome: Any) -> None:
        """The run's last transition (RunStore.finish), its event redacted."""
        if reason is not None:
            reason = self.redactor.text(reason)
        event = self.redactor.data(ending_event(reason, outcome) if event is None else event)
        self.store.finish(self.run_id, status, reason, event=event, **outcome)

    def finish_comment(self, body: str, client: Github | None = None) -> None:
        """Edit the tracking comment to its final words, or reply if there is none yet.

        `client` saves a token mint when the caller holds one that can write issues."""
        client = client or self.client_for_replies()
        if not self.tracking_comment_id:
            self.reply(client, body)
            return
        with self.comment_lock():
            self.tracking_comment(client).edit(body)

    def finish_comment_or_log(self, body: str) -> None:
        """finish_comment, when the run's end must be said whatever else failed: if GitHub
        itself is down, the record and the log still say it."""
        try:
            self.finish_comment(body)
        except (GithubException, RunError, OSError) as report_error:
            self.log("could not report: %s", "GitHub could not be reached"
                     if out_of_reach(report_error) else repr(report_error))

    @contextmanager
    def comment_lock(self) -> Iterator[None]:
        """Held around edits of the tracking comment that can race: a waiting run's place in
        line (jobs.steer.place_comments) against the edits saying it started or ended, each made after the
        run's status changed. If the lock cannot be had in time, the edit goes ahead."""
        lock = self.redis.lock(keys.comment_lock(self.run_id), timeout=COMMENT_LOCK_SECONDS,
                               blocking_timeout=COMMENT_LOCK_SECONDS)
        try:
            held = lock.acquire()
        except RedisError:  # Redis is away: an edit now beats none
            held = False
        try:
            yield
        finally:
            if held:
                with suppress(LockError, RedisError):
                    lock.release()

    def log(self, message: str, *args: Any) -> None:
        t = self.trigger
        log.info(f"[run {self.run_id} {t.repository}#{t.number} inst {t.installation_id}] "
                 + message, *args)


class TrackingComment:
    """The one comment a run edits in place from start to finish."""

    def __init__(self, client: Github, repository: str, comment_id: int,
                 public_url: str = "") -> None:
        self.client = client
        self.path = f"/repos/{repository}/issues/comments/{comment_id}"
        self.public_url = public_url

    def edit(self, body: str) -> None:
        # A direct PATCH: PyGithub would first GET the comment to build its object.
        self.client.requester.requestJsonAndCheck(
            "PATCH", self.path, input={"body": report.linked(body, self.public_url)})


def reply(client: Github, trigger: Trigger, body: str | None) -> None:
    """A new comment on the trigger's issue or PR (nothing when body is None)."""
    if body is not None:
        client.requester.requestJsonAndCheck(
            "POST", f"/repos/{trigger.repository}/issues/{trigger.number}/comments",
            input={"body": body})


def react_to_comment(client: Github, repository: str, comment_id: int | None,
                     on_diff: bool = False) -> None:
    """👀 on the comment that holds a command (a conversation or a review comment)."""
    if comment_id:
        kind = "pulls" if on_diff else "issues"
        client.requester.requestJsonAndCheck(
            "POST", f"/repos/{repository}/{kind}/comments/{comment_id}/reactions",
            input={"content": "eyes"})
