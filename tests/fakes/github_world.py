"""Builders a test uses to set the scene in the fake GitHub, and the writes handlers share."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from pathlib import Path
from typing import Any

from tests.fakes import github_git as gitops
from tests.fakes import github_objects as objects
from tests.fakes import github_objects_threads as threads
from tests.fakes.github_ci import FakeCi
from tests.fakes.github_state import (
    DEFAULT_INSTALLATION_PERMISSIONS, ROLE_LEVELS, Comment, Delivery, Installation, Issue,
    PullInfo, Repo, Review, ReviewComment, State, User, now,
)


class FakeWorld:
    """The scene-setting half of ``FakeGitHub``: everything but HTTP."""

    bot_login = "orca-test[bot]"
    app_slug = "orca-test"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.state = State()
        self.site = objects.Site("http://127.0.0.1:0")  # replaced once the server has a port
        self.token_requests: list[dict[str, Any]] = []  # bodies sent to .../access_tokens
        self.webhook_url: str | None = None  # where redeliveries go; None: recorded only
        self.redelivery_threads: list[threading.Thread] = []
        bot = self.state.user(self.bot_login, "Bot")
        self.bot_user_id: int = bot.id
        self.app_owner = self.state.user("orca-maintainers", "Organization")
        self.ci = FakeCi(self)  # check suites and runs, statuses, Actions runs, jobs and logs

    # -- scene builders -------------------------------------------------------------------

    def add_installation(self, account_login: str = "octo-org",
                         permissions: dict[str, str] | None = None) -> int:
        """Install the App on ``account_login`` (an organisation); return the installation id."""
        account = self.state.user(account_login, "Organization")
        perms = dict(DEFAULT_INSTALLATION_PERMISSIONS if permissions is None else permissions)
        with self.state.lock:
            inst = Installation(self.state.next_id(), account, perms)
            self.state.installations[inst.id] = inst
        return inst.id

    def add_user(self, login: str, type: str = "User") -> dict[str, Any]:
        """Create (or find) a user; ``type="Bot"`` for bots. Returns its ``simple-user`` JSON."""
        return objects.simple_user(self.site, self.state.user(login, type))

    def add_repo(self, full_name: str, installation_id: int | None, files: dict[str, str],
                 default_branch: str = "main", private: bool = False) -> dict[str, Any]:
        """Create a repository with a real bare git repo holding one commit of ``files``."""
        owner_login, _, name = full_name.partition("/")
        owner = self.state.users.get(owner_login) or self.state.user(owner_login, "Organization")
        with self.state.lock:
            if self.state.repo(full_name) is not None:
                raise ValueError(f"repository {full_name} already exists")
            repo = Repo(self.state.next_id(), owner, name, installation_id, default_branch, private)
            self.state.repos[full_name.lower()] = repo
        gitops.create_bare_repo(self.git_dir(full_name), files, default_branch)
        return objects.full_repository(self.site, repo, "admin")

    def set_permission(self, full_name: str, login: str, permission: str) -> None:
        """Give ``login`` a role on the repository: none/read/triage/write/maintain/admin."""
        if permission not in ROLE_LEVELS:
            raise ValueError(f"unknown permission {permission!r}")
        self.state.user(login)
        self._repo(full_name).permissions[login] = permission

    def add_issue(self, full_name: str, title: str, body: str | None, user_login: str,
                  labels: tuple[str, ...] | list[str] = ()) -> int:
        """Open an issue; return its number (shared with pulls, as on GitHub)."""
        repo = self._repo(full_name)
        return self._store_issue(repo, title, body, self.state.user(user_login), list(labels))

    def add_comment(self, full_name: str, number: int, body: str, user_login: str) -> dict[str, Any]:
        """Comment on issue or pull ``number``; return the ``issue-comment`` JSON."""
        issue = self._issue(full_name, number)
        comment = self.store_comment(issue, body, self.state.user(user_login))
        return threads.comment(self.site, comment, [])

    def add_pull(self, full_name: str, head: str, base: str, title: str, body: str | None,
                 user_login: str, head_repo_full_name: str | None = None) -> int:
        """Open a pull from branch ``head`` (of ``head_repo_full_name`` for forks) into ``base``."""
        repo = self._repo(full_name)
        head_repo = self._repo(head_repo_full_name) if head_repo_full_name else repo
        if self.branch_sha(head_repo.full_name, head) is None:
            raise ValueError(f"branch {head} does not exist in {head_repo.full_name}")
        return self.store_pull(repo, head_repo, head, base, title, body,
                               self.state.user(user_login))

    def add_review(self, full_name: str, number: int, user_login: str, body: str = "",
                   state: str = "COMMENTED") -> int:
        """Submit a review on pull ``number``; return its id."""
        pull = self._issue(full_name, number)
        assert pull.pull is not None, "reviews belong to pulls"
        with self.state.lock:
            review = Review(self.state.next_id(), pull, self.state.user(user_login), body,
                            state, pull.pull.head_sha)
            self.state.reviews[review.id] = review
        return review.id

    def add_review_comment(self, full_name: str, number: int, body: str, user_login: str,
                           path: str = "README.md", line: int = 1,
                           review_id: int | None = None) -> dict[str, Any]:
        """Comment on a line of pull ``number``; return the review comment JSON."""
        pull = self._issue(full_name, number)
        comment = self.store_review_comment(pull, body, self.state.user(user_login), path, line,
                                            review_id=review_id)
        return threads.review_comment(self.site, comment, [])

    def push_commit(self, full_name: str, branch: str, files: dict[str, str],
                    message: str = "A person's commit", start: str | None = None,
                    links: dict[str, str] | None = None) -> str:
        """Push a commit of ``files`` (and symbolic ``links``: path → target) to ``branch``
        (created from ``start`` if new); its sha."""
        return gitops.commit_files(self.git_dir(full_name), branch, files, message, start, links)

    def reply_review_comment(self, comment_id: int, body: str, user_login: str,
                             review_id: int | None = None) -> int:
        """A person's reply in the thread of review comment ``comment_id``; its id. On GitHub a
        reply belongs to a review of its own (``review_id``, from ``add_review``)."""
        parent = self.state.review_comments[comment_id]
        root = parent.in_reply_to_id or parent.id
        reply = self.store_review_comment(parent.pull, body, self.state.user(user_login),
                                          parent.path, parent.line, review_id=review_id,
                                          in_reply_to_id=root)
        return reply.id

    def resolve_thread(self, comment_id: int) -> None:
        """Mark the thread of review comment ``comment_id`` resolved."""
        self.state.review_comments[comment_id].resolved = True

    def outdate_thread(self, comment_id: int) -> None:
        """Mark the thread of review comment ``comment_id`` outdated (its line changed)."""
        self.state.review_comments[comment_id].outdated = True

    def edit_comment(self, comment_id: int, body: str) -> None:
        """A person edits an issue comment now."""
        with self.state.lock:
            comment = self.state.comments[comment_id]
            comment.body, comment.updated_at = body, now() + dt.timedelta(seconds=1)

    def edit_review_comment(self, comment_id: int, body: str) -> None:
        """A person edits a review comment now."""
        with self.state.lock:
            comment = self.state.review_comments[comment_id]
            comment.body = body
            comment.updated_at = comment.last_edited_at = now() + dt.timedelta(seconds=1)

    def add_delivery(self, event: str, action: str | None = None,
                     installation_id: int | None = None, repository_id: int | None = None,
                     payload: dict[str, Any] | None = None, status_code: int = 200,
                     guid: str | None = None, redelivery: bool = False) -> int:
        """Record a webhook delivery listed by ``GET /app/hook/deliveries``; return its id."""
        with self.state.lock:
            delivery = Delivery(self.state.next_id(), guid or str(uuid.uuid4()), event, action,
                                installation_id, repository_id, status_code, redelivery, payload)
            self.state.deliveries[delivery.id] = delivery
        return delivery.id

    def send_delivery(self, event: str, payload: dict[str, Any]) -> Delivery:
        """Deliver ``payload`` to ``webhook_url`` as GitHub does and record the attempt, with
        the status it got (0: no answer within GitHub's 10 seconds). Returns the record."""
        assert self.webhook_url, "set webhook_url first"
        installation, repository = payload.get("installation"), payload.get("repository")
        first = Delivery(0, str(uuid.uuid4()), event, payload.get("action"),
                         installation["id"] if installation else None,
                         repository["id"] if repository else None, 0, False, payload)
        return self.state.deliveries[self._attempt(first, redelivery=False)]

    def send_again(self, delivery: Delivery) -> None:
        """Redeliver to ``webhook_url`` (if set) with the same guid, recording the attempt."""
        url = getattr(self, "webhook_url", None)
        if not url or delivery.payload is None:
            return
        thread = threading.Thread(target=self._attempt, args=(delivery, True), daemon=True)
        self.redelivery_threads.append(thread)
        thread.start()

    def _attempt(self, delivery: Delivery, redelivery: bool) -> int:
        """POST ``delivery`` to ``webhook_url``, signed, and record the attempt; its id."""
        from tests.payloads import deliver  # the same signed delivery a test would send

        assert self.webhook_url and delivery.payload is not None
        try:
            status, _ = deliver(self.webhook_url, delivery.event, delivery.payload,
                                self.webhook_secret, delivery_id=delivery.guid, app_id=self.app_id)
        except OSError:  # nobody listening, or no answer within GitHub's 10 seconds
            status = 0
        return self.add_delivery(delivery.event, delivery.action, delivery.installation_id,
                                 delivery.repository_id, delivery.payload, status, delivery.guid,
                                 redelivery)

    def add_manifest_code(self, code: str) -> None:
        """Accept ``code`` once at ``POST /app-manifests/{code}/conversions``."""
        self.state.manifest_codes.add(code)

    def expire_tokens(self) -> None:
        """Make every installation token minted so far expire now."""
        past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
        with self.state.lock:
            for token in self.state.tokens.values():
                token.expires_at = past

    # -- git helpers ----------------------------------------------------------------------

    def git_dir(self, full_name: str) -> Path:
        """The bare repository behind ``full_name``."""
        repo = self.state.repo(full_name)
        return self.root / "git" / f"{repo.full_name if repo else full_name}.git"

    def branch_sha(self, full_name: str, branch: str) -> str | None:
        """The tip of ``branch``, or None if it does not exist."""
        return gitops.branch_sha(self.git_dir(full_name), branch)

    def read_file(self, full_name: str, ref: str, path: str) -> str | None:
        """The text of ``path`` at ``ref``, or None."""
        got = gitops.blob(self.git_dir(full_name), ref, path)
        return None if got is None else got[1].decode("utf-8", errors="replace")

    # -- writes shared with the handlers --------------------------------------------------

    def store_comment(self, issue: Issue, body: str, user: User) -> Comment:
        """Add a conversation comment."""
        with self.state.lock:
            comment = Comment(self.state.next_id(), issue, body, user)
            self.state.comments[comment.id] = comment
            issue.updated_at = now()
        return comment

    def store_pull(self, repo: Repo, head_repo: Repo, head: str, base: str, title: str,
                   body: str | None, user: User, draft: bool = False) -> int:
        """Open a pull whose head/base shas come from the bare repositories."""
        head_sha = self.branch_sha(head_repo.full_name, head) or ""
        base_sha = self.branch_sha(repo.full_name, base) or ""
        number = self._store_issue(repo, title, body, user, [])
        issue = self.state.issues[(repo.id, number)]
        issue.pull = PullInfo(head_repo, head, base, head_sha, base_sha, draft)
        self._pull_ref(issue)
        return number

    def store_review_comment(self, pull: Issue, body: str, user: User, path: str, line: int,
                             review_id: int | None = None,
                             in_reply_to_id: int | None = None) -> ReviewComment:
        """Add a comment on a line of a pull's diff."""
        assert pull.pull is not None
        with self.state.lock:
            comment = ReviewComment(self.state.next_id(), pull, body, user, path, line,
                                    pull.pull.head_sha, review_id, in_reply_to_id)
            self.state.review_comments[comment.id] = comment
        return comment

    def refresh_pull(self, issue: Issue) -> None:
        """Re-read head and base shas (pushes happen behind the API's back)."""
        pull = issue.pull
        if pull is None:
            return
        pull.head_sha = self.branch_sha(pull.head_repo.full_name, pull.head_ref) or pull.head_sha
        pull.base_sha = self.branch_sha(issue.repo.full_name, pull.base_ref) or pull.base_sha
        self._pull_ref(issue)

    def _pull_ref(self, issue: Issue) -> None:
        """`refs/pull/<n>/head` in the base repository at the head, as GitHub keeps it (a
        fork's commits fetched into the base repository): what lets anyone fetch a fork's
        pull request from the base repository alone."""
        pull = issue.pull
        assert pull is not None
        where, ref = self.git_dir(issue.repo.full_name), f"refs/pull/{issue.number}/head"
        if gitops.rev_parse(where, ref) == pull.head_sha:
            return
        if pull.head_repo is not issue.repo:
            gitops.git("fetch", "--quiet", str(self.git_dir(pull.head_repo.full_name)),
                       f"+refs/heads/{pull.head_ref}:{ref}", cwd=where)
        else:
            gitops.git("update-ref", ref, pull.head_sha, cwd=where)

    def reactions_on(self, subject: str) -> list[Any]:
        """Reactions left on ``subject`` (``issue:<id>``, ``comment:<id>``...)."""
        return [r for r in self.state.reactions if r.subject == subject]

    # -- lookups ----------------------------------------------------------------------------

    def _repo(self, full_name: str) -> Repo:
        repo = self.state.repo(full_name)
        if repo is None:
            raise KeyError(f"no repository {full_name}; call add_repo first")
        return repo

    def _issue(self, full_name: str, number: int) -> Issue:
        issue = self.state.issue(self._repo(full_name), number)
        if issue is None:
            raise KeyError(f"no issue or pull #{number} in {full_name}")
        return issue

    def _store_issue(self, repo: Repo, title: str, body: str | None, user: User,
                     labels: list[str]) -> int:
        with self.state.lock:
            number = repo.next_number
            repo.next_number += 1
            issue = Issue(self.state.next_id(), repo, number, title, body, user, labels)
            self.state.issues[(repo.id, number)] = issue
        return number
