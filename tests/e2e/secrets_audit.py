"""A secrets audit for end-to-end runs: every place a secret could land, and one search of them.

`secrets_of` names each secret the run had (Orca's settings as it reads them, every token the
fake GitHub minted); `Evidence` gathers the places (log records and process output, every
Redis key, files under Orca's working directory, the worktree as it was during the run, what
the model received, what reached GitHub); `leaks` says which secret is where.

Redis and git keep much of their data compressed (RQ pickles and zlib-compresses job data and
exceptions, RQ results are base64 on top, git objects are zlib streams or packs), so every
place is searched through those layers too.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import subprocess
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from core.settings import load_settings
from tests.e2e.conftest import Orca
from tests.fakes.model import ErrorReply, Reply, error

# Layers to look through: an RQ result's exception is text in zlib in base64; one to spare.
_MAX_LAYERS = 3


@dataclass(frozen=True)
class Place:
    """Somewhere a secret could have landed: its kind, where exactly, and what it holds."""

    kind: str
    """log, redis, file, worktree, model or github."""
    where: str
    content: bytes


def secrets_of(orca: Orca) -> dict[str, bytes]:
    """Every secret of the run by name: Orca's settings as its processes read them, and each
    installation token the fake GitHub minted (also as the Basic header git sends)."""
    settings = load_settings()
    named = {"webhook secret": settings.github_webhook_secret,
             "model API key": settings.anthropic_api_key,
             "OAuth client secret": settings.github_client_secret,
             "session secret": settings.session_secret,
             "admin token": settings.admin_token,
             "metrics token": settings.metrics_token}
    key_lines = [line for line in settings.private_key().splitlines() if line and "-----" not in line]
    named |= {f"private key line {n + 1}": line for n, line in enumerate(key_lines)}
    for n, token in enumerate(orca.github.state.tokens):
        named[f"installation token {n + 1}"] = token
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        named[f"installation token {n + 1} as git's Basic header"] = basic
    return {name: value.encode() for name, value in named.items() if value}


def layers(content: bytes, depth: int = 0) -> Iterator[bytes]:
    """`content`, and what it holds under zlib or base64 (RQ's job data, results and
    exceptions; git's loose objects). Pickled strings are plain UTF-8 inside."""
    yield content
    if depth >= _MAX_LAYERS or len(content) < 8:
        return
    try:
        yield from layers(zlib.decompress(content), depth + 1)
    except zlib.error:
        pass
    try:
        yield from layers(base64.b64decode(content, validate=True), depth + 1)
    except (binascii.Error, ValueError):
        pass


def leaks(places: Iterable[Place], secrets: dict[str, bytes]) -> list[str]:
    """`<secret> in <kind>: <where>` for each secret found in a place, in order."""
    found = []
    for place in places:
        readable = b"\n".join(layers(place.content))
        found += [f"{name} in {place.kind}: {place.where}"
                  for name, secret in secrets.items() if secret in readable]
    return list(dict.fromkeys(found))


# -- the places ---------------------------------------------------------------------------


def log_places(records: Iterable[logging.LogRecord], output: str) -> Iterator[Place]:
    """Each log record (message and traceback) of the web app and the worker, and what the
    process and its children wrote to stdout and stderr."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in records:
        where = f"record of {record.name} ({Path(record.pathname).name}:{record.lineno})"
        yield Place("log", where, formatter.format(record).encode())
    yield Place("log", "stdout and stderr", output.encode())


def redis_places(client: redis.Redis) -> Iterator[Place]:
    """Every value of every key: run records and events, RQ's jobs, results and registries."""
    for key in sorted(client.scan_iter(count=1000)):
        kind = client.type(key).decode()
        name = key.decode(errors="replace")
        for part, value in _redis_values(client, key, kind):
            yield Place("redis", f"{name} {part}".strip(), value)


def _redis_values(client: redis.Redis, key: bytes, kind: str) -> list[tuple[str, bytes]]:
    if kind == "string":
        return [("", client.get(key) or b"")]
    if kind == "hash":
        return [(field_.decode(), value) for field_, value in client.hgetall(key).items()]
    if kind == "list":
        return [(f"[{n}]", value) for n, value in enumerate(client.lrange(key, 0, -1))]
    if kind == "set":
        return [("member", value) for value in client.smembers(key)]
    if kind == "zset":
        return [("member", value) for value, _ in client.zrange(key, 0, -1, withscores=True)]
    if kind == "stream":
        return [(f"{entry_id.decode()} {name.decode()}", value)
                for entry_id, fields in client.xrange(key) for name, value in fields.items()]
    raise AssertionError(f"the audit cannot read Redis key {key!r} of type {kind}")


def file_places(root: Path, kind: str = "file") -> Iterator[Place]:
    """Every file under `root`, and every object of each git repository there (packs
    compress across objects, so their files alone cannot be searched)."""
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield Place(kind, str(path), path.read_bytes())
        if path.is_dir() and (path / "objects").is_dir() and (path / "HEAD").is_file():
            yield Place(kind, f"git objects of {path}", git_objects(path))


def git_objects(git_dir: Path) -> bytes:
    """The content of every object in a repository, loose or packed (whoever owns it: the
    agent's own git dirs belong to the sandbox's user when Orca runs as root)."""
    return subprocess.run(["git", "-c", "safe.directory=*", "cat-file", "--batch-all-objects",
                           "--batch"], cwd=git_dir, capture_output=True, check=True).stdout


def model_places(requests: list[dict[str, Any]], label: str = "request") -> Iterator[Place]:
    """Each request body the model received: prompts, and the tool results, which are
    everything the sandboxed commands printed. (Its headers carry the model key, rightly.)"""
    for n, body in enumerate(requests):
        yield Place("model", f"{label} {n + 1}", json.dumps(body, ensure_ascii=False).encode())


def github_places(orca: Orca) -> Iterator[Place]:
    """What reached GitHub: issue and PR titles and bodies, comments, reviews, the request
    bodies Orca sent, and every git object pushed."""
    state = orca.github.state
    for issue in state.issues.values():
        kind = "pull request" if issue.pull else "issue"
        yield Place("github", f"{kind} #{issue.number}", f"{issue.title}\n{issue.body}".encode())
    for comment in [*state.comments.values(), *state.reviews.values(), *state.review_comments.values()]:
        yield Place("github", f"{type(comment).__name__} {comment.id}", comment.body.encode())
    for n, call in enumerate(orca.github.calls):
        if call.body is not None:
            yield Place("github", f"body of {call.method} {call.path} (call {n + 1})",
                        json.dumps(call.body).encode())
    for repo in state.repos.values():
        yield Place("github", f"git objects of {repo.full_name}",
                    git_objects(orca.github.git_dir(repo.full_name)))


@dataclass
class Evidence:
    """The places of one run. `answer` is the fake model's responder: it answers from `steps`
    and, before each answer, copies every file under the data dir, because the worktree and
    its git dir exist only while the run does."""

    orca: Orca
    steps: list[Reply | Callable[[dict[str, Any]], Reply]]
    during: dict[tuple[str, bytes], Place] = field(default_factory=dict)

    def answer(self, body: dict[str, Any]) -> Reply | ErrorReply:
        for place in file_places(self.orca.data_dir, "worktree"):
            self.during.setdefault((place.where, place.content), place)
        if not self.steps:
            return error(500, "api_error", "secrets audit: no step left", {"x-should-retry": "false"})
        step = self.steps.pop(0)
        return step(body) if callable(step) else step

    def places(self, records: Iterable[logging.LogRecord], output: str) -> list[Place]:
        """Every place, gathered after the run (with the copies taken during it)."""
        return [*log_places(records, output), *redis_places(self.orca.redis),
                *file_places(self.orca.data_dir.parent), *self.during.values(),
                *model_places(self.orca.model.requests),
                *model_places(self.orca.model.count_tokens_requests, "token count"),
                *github_places(self.orca)]
