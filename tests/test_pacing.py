"""GitHub write pacing: one installation's writes are spaced across clients and processes'
connections; reads, other installations and a zero interval are not held back."""

from __future__ import annotations

import itertools
import threading
import time

import redis
from github import Auth, Github, GithubIntegration
from github.Requester import Requester

from jobs.github.pacing import DEFER_HOOK, WritePacer
from tests.fakes.github import FakeGitHub
from tests.redis_server import RedisServer

INTERVAL = 0.2


def _write_times(url: str, installation_id: int, writers: int, each: int) -> list[float]:
    """`writers` threads, each with its own Redis connection (as separate workers have),
    each reserving `each` writes; the moments the writes went out."""
    moments: list[float] = []
    lock = threading.Lock()

    def write() -> None:
        pacer = WritePacer(redis.Redis.from_url(url), installation_id, INTERVAL)
        for _ in range(each):
            pacer.wait_turn("POST")
            with lock:
                moments.append(time.monotonic())

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(moments)


def test_writes_of_one_installation_are_spaced_across_connections(
        redis_server: RedisServer, redis_client: redis.Redis) -> None:
    moments = _write_times(redis_server.url, 7, writers=3, each=3)
    gaps = [later - earlier for earlier, later in itertools.pairwise(moments)]
    assert len(moments) == 9
    assert min(gaps) >= INTERVAL * 0.9, gaps  # a little slack for sleep's own rounding
    assert moments[-1] - moments[0] >= 8 * INTERVAL * 0.9


def test_reads_other_installations_and_a_zero_interval_do_not_wait(redis_client: redis.Redis) -> None:
    paced = WritePacer(redis_client, 1, INTERVAL)
    assert paced.wait_turn("POST") == 0  # the first write goes at once
    started = time.monotonic()
    assert paced.wait_turn("GET") == 0
    assert WritePacer(redis_client, 2, INTERVAL).wait_turn("PATCH") == 0
    unpaced = WritePacer(redis_client, 1, 0)
    assert [unpaced.wait_turn("POST") for _ in range(5)] == [0] * 5
    assert time.monotonic() - started < INTERVAL / 2
    assert paced.wait_turn("DELETE") > 0  # installation 1 wrote a moment ago


def test_a_paced_client_spaces_its_writes_to_github(fake_github: FakeGitHub,
                                                    redis_client: redis.Redis) -> None:
    """Through PyGithub itself: the hook is where PyGithub calls it, for high-level calls
    too, and reads go straight through."""
    assert hasattr(Requester, DEFER_HOOK)
    inst = fake_github.add_installation("octo-org")
    fake_github.add_repo("octo-org/app", inst, {"README.md": "hi\n"})
    number = fake_github.add_issue("octo-org/app", "Crash on start", None, "alice")
    app = GithubIntegration(auth=Auth.AppAuth(fake_github.app_id, fake_github.private_key_pem),
                            base_url=fake_github.api_url)
    token = app.get_access_token(inst).token
    client = WritePacer(redis_client, inst, INTERVAL).pace(
        Github(auth=Auth.Token(token), base_url=fake_github.api_url, lazy=True))
    remote = client.get_repo("octo-org/app").get_issue(number)
    remote.create_comment("one")
    remote.create_reaction("eyes")
    remote.create_comment("two")
    assert client.get_repo("octo-org/app").get_issue(number).title == "Crash on start"
    writes = [c.at for c in fake_github.calls
              if c.method == "POST" and "/access_tokens" not in c.path]
    assert len(writes) == 3
    # Arrival, not sending: a busy machine may delay one write's arrival by a little.
    assert min(b - a for a, b in itertools.pairwise(writes)) >= INTERVAL * 0.75


def test_held_slots_are_taken_at_once_and_used_by_the_next_writes(redis_client: redis.Redis) -> None:
    """An acknowledgement holds its two slots without sleeping; writes after it wait behind
    them, and its own writes go at the held moments, an interval apart."""
    first = WritePacer(redis_client, 3, INTERVAL)
    assert first.due() == 0 and first.hold(2) == 0
    assert INTERVAL * 1.5 < WritePacer(redis_client, 3, INTERVAL).due() <= INTERVAL * 2
    later = WritePacer(redis_client, 3, INTERVAL)
    assert INTERVAL * 1.5 < later.hold(2) <= INTERVAL * 2  # behind the two held before it
    started = time.monotonic()
    assert first.wait_turn("POST") == 0
    assert INTERVAL * 0.8 < first.wait_turn("POST") <= INTERVAL
    assert time.monotonic() - started >= INTERVAL * 0.8
    elsewhere = WritePacer(redis_client, 3, INTERVAL)
    elsewhere.held_from(time.time() - 5, 2)  # due long ago: the first goes at once, the second
    assert elsewhere.wait_turn("POST") == 0  # an interval after it, not at its late moment
    assert elsewhere.wait_turn("POST") > INTERVAL * 0.8
    assert WritePacer(redis_client, 3, 0).hold(2) == 0
