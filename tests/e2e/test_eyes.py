"""A 👀 waits for its own installation's earlier GitHub writes and for nothing else.

With write pacing on, a busy installation's acknowledgements hold their write slots and come
back when those are due (jobs.run.intake), so the fast workers — two, forked from one
`orca worker --count 2` as `orca up` starts them — answer a quiet installation at once
instead of sleeping through the busy one's queue of writes. Each fast worker mints a
repository's token once and reuses it for the acknowledgements that follow
(jobs.github.REUSED_TOKENS).
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time

from rq import Worker

from tests.e2e.conftest import HELLO_FILES, Orca, Scene, labeled_payload
from tests.e2e.conversation_scenes import wait_for

ORCA = [sys.executable, "-m", "app.cli"]
INTERVAL = 1.0
BUSY = 5
"""Labels on the busy installation, delivered first: ten writes, ten seconds of its slots."""


def scenes(orca: Orca, org: str, count: int) -> list[Scene]:
    github = orca.github
    requester = github.add_user("octocat")
    installation_id = github.add_installation(org)
    repo = github.add_repo(f"{org}/hello", installation_id, files=HELLO_FILES, private=True)
    github.set_permission(f"{org}/hello", "octocat", "write")
    return [Scene(installation_id, repo, github.add_issue(
        f"{org}/hello", "Fix the greeting typo", "greet() says helo.", "octocat",
        labels=["agent"]), requester) for _ in range(count)]


def first_eyes(orca: Orca) -> dict[tuple[str, int], float]:
    """When each issue's 👀 reached the fake, by (repository, issue number)."""
    found: dict[tuple[str, int], float] = {}
    for call in orca.github.calls_to("POST", r"/issues/\d+/reactions$"):
        match = re.search(r"/repos/([^/]+/[^/]+)/issues/(\d+)/reactions$", call.path)
        if match and call.status in (200, 201):
            found.setdefault((match[1], int(match[2])), call.at)
    return found


def test_a_quiet_installations_eyes_do_not_wait_behind_a_busy_ones_writes(orca: Orca,
                                                                          monkeypatch) -> None:
    monkeypatch.setenv("ORCA_GITHUB_WRITE_INTERVAL", str(INTERVAL))
    busy, [quiet] = scenes(orca, "org-busy", BUSY), scenes(orca, "org-quiet", 1)
    workers = subprocess.Popen([*ORCA, "worker", "--queues", "fast", "--count", "2"],
                               env=dict(os.environ), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(Worker.all(connection=orca.redis)) == 2, timeout=120,
                 what="two fast workers")
        for scene in busy:
            assert orca.deliver("issues", labeled_payload(orca.github, scene))[0] == 202
        delivered = time.time()
        assert orca.deliver("issues", labeled_payload(orca.github, quiet))[0] == 202
        wait_for(lambda: len(first_eyes(orca)) == BUSY + 1, timeout=90, what="every 👀")
    finally:
        workers.terminate()
        workers.wait(timeout=30)
    eyes = first_eyes(orca)
    busy_eyes = [eyes["org-busy/hello", scene.number] for scene in busy]
    quiet_eyes = eyes["org-quiet/hello", quiet.number]
    # The busy installation's one after another, each after the one before and its tracking
    # comment: they wait for their own installation's earlier writes. (Which of the first two
    # holds its slots first is a race between the two workers that took them at once.)
    spread = [round(t - delivered, 2) for t in [*busy_eyes, quiet_eyes]]
    assert min(b - a for a, b in itertools.pairwise(sorted(busy_eyes))) >= INTERVAL * 0.9, spread
    # The quiet one's at once: not behind the busy installation's ten seconds of writes.
    assert quiet_eyes - delivered < 2 * INTERVAL, quiet_eyes - delivered
    assert quiet_eyes < sorted(busy_eyes)[2], spread
    # Five acknowledgements (some taken twice, when their slots were far off) on two
    # workers: at most one token minted by each worker for the busy repository.
    mints = orca.github.calls_to("POST", rf"/app/installations/{busy[0].installation_id}/")
    assert 1 <= len(mints) <= 2, [call.path for call in mints]
