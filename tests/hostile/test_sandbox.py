"""Attacks from inside the sandbox, each through a whole run with real bubblewrap.

The fake model scripts the agent's bash commands; each test reads what the commands saw (the
tool results sent back to the model), checks the host, and checks that the run still ended
with a tracking comment, naming the bound a command ran into.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import comments_on, labeled_payload, make_scene
from tests.fakes.model import reply, text, tool_use
from tests.hostile.public_host import own_addresses
from tests.redis_server import free_port

NETWORK = ".github/orca.yml", "network: true\n"


def run_commands(orca, commands: list[str], config: tuple[str, str] | None = None,
                 drain=None) -> tuple[list[str], str]:
    """One run whose agent runs `commands` in order, then stops; (their results, the final
    tracking comment). The commands must leave /workspace unchanged (no diff review)."""
    files = {"README.md": "# Hello\n", **dict([config] if config else [])}
    scene = make_scene(orca.github, files=files, body="Please.")
    orca.model.script(reply(*[tool_use("bash", {"command": c}) for c in commands]),
                      reply(text("Done poking around.")))
    orca.deliver("issues", labeled_payload(orca.github, scene))
    (drain or orca.drain)()
    assert orca.model.remaining == 0 and orca.model.violations == []
    blocks = orca.model.requests[1]["messages"][-1]["content"]
    results = [b["content"] for b in blocks if b["type"] == "tool_result"]
    assert len(results) == len(commands)
    [comment], _ = comments_on(orca.github, scene)
    return results, comment.body


def python(script: str, *args: object) -> str:
    """A bash command running `script` with the sandbox's own python3."""
    return f"python3 - {' '.join(str(a) for a in args)} <<'EOF'\n{script}\nEOF"


PROBE = r'''
import socket, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        print("CONNECTED", target)
    except OSError as error:
        print("blocked", target, error)
'''

# What a command with network access would do to take over a worker: push an RQ job (a
# pickled call of os.system) onto the fast queue, which any worker runs outside the sandbox.
PUSH_RQ_JOB = r'''
import datetime, pickle, socket, sys, zlib
host, port, canary = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = zlib.compress(pickle.dumps(("os.system", None, ("echo ran on the host > " + canary,), {})))
now = datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
def command(*parts):
    out = b"*%d\r\n" % len(parts)
    for part in parts:
        part = part if isinstance(part, bytes) else str(part).encode()
        out += b"$%d\r\n%s\r\n" % (len(part), part)
    return out
try:
    redis = socket.create_connection((host, port), timeout=3)
    redis.sendall(command("HSET", "rq:job:evil", "data", data, "created_at", now,
                          "enqueued_at", now, "origin", "orca-fast", "status", "queued",
                          "description", "evil")
                  + command("RPUSH", "rq:queue:orca-fast", "evil"))
    print("REDIS ANSWERED", redis.recv(100))
except OSError as error:
    print("redis unreachable:", error)
'''


def test_a_command_holds_no_capability_and_cannot_remount_usr(orca):
    """Started by root, the sandbox used to keep every capability: remounting /usr read-write
    and writing there reached the host's /usr/bin."""
    planted = Path(f"/usr/bin/orca-attack-{secrets.token_hex(4)}")
    commands = [
        "grep -E 'Cap(Eff|Prm|Bnd)' /proc/self/status; cat /proc/self/uid_map",
        f"mount -o remount,bind,rw /usr; echo planted > {planted} && echo WROTE",
        (f"unshare -Urm sh -c 'mount -o remount,bind,rw /usr; echo planted > {planted}' "
         "&& echo WROTE-NESTED"),
    ]
    try:
        results, comment = run_commands(orca, commands)
        assert not planted.exists()
    finally:
        planted.unlink(missing_ok=True)  # should the attack ever succeed
    assert "CapEff:\t0000000000000000" in results[0]
    assert "CapBnd:\t0000000000000000" in results[0]
    assert "WROTE" not in results[1] and "WROTE" not in results[2]
    assert ("mount: /usr: must be superuser" in results[1]  # as nobody
            or "mount: /usr: permission denied" in results[1])  # as a user without root
    assert comment.startswith("🤷 Orca finished without changing any files")


def test_a_command_is_not_root_on_the_host(orca):
    """Started by root with --unshare-user, bubblewrap used to map the sandbox's user to host
    root: without capabilities it still read root's 0600 files and owned what it wrote."""
    scene = make_scene(orca.github, files={"README.md": "# Hello\n"}, body="Please.")
    mirror = orca.data_dir / "mirrors" / "octo-org" / "hello.git"
    planted, seen, owner = mirror / f"root-only-{secrets.token_hex(4)}", [], []

    def respond(body):
        turn = len(seen)
        seen.append([b["content"] for b in body["messages"][-1]["content"]
                     if b.get("type") == "tool_result"])
        if turn == 0:  # the mirror exists now; the sandbox sees it read-only at its path
            return reply(tool_use("bash", {"command": "id -u; echo made > /workspace/made"}))
        if turn == 1:
            owner.append((orca.data_dir / "worktrees" / run_id / "made").stat().st_uid)
            planted.write_text("root's eyes only\n")
            planted.chmod(0o600)
            return reply(tool_use("bash", {"command": f"cat {planted} 2>&1"}))
        return reply(text("Done."))

    orca.model.respond_with(respond)
    _, answer = orca.deliver("issues", labeled_payload(orca.github, scene))
    run_id = answer["run"]
    orca.drain()
    assert seen[1] == ["65534"]  # nobody, inside
    assert owner == [65534]  # and on the host
    assert "Permission denied" in seen[2][0] and "root's eyes only" not in seen[2][0]
    [comment], _ = comments_on(orca.github, scene)
    assert comment.body.startswith("✅ Opened #")


def test_filling_tmp_stops_at_its_size_and_the_comment_says_so(orca, monkeypatch):
    monkeypatch.setenv("ORCA_SANDBOX_TMP_SIZE", "16MiB")
    results, comment = run_commands(orca, [
        "dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>&1 | head -1; stat -c %s /tmp/fill"])
    assert "No space left on device" in results[0]
    assert int(results[0].split("\n")[1]) <= 16 * 1024**2
    assert "[/tmp is full: it holds 16 MiB (ORCA_SANDBOX_TMP_SIZE)" in results[0]
    assert "/tmp full (16 MiB)" in comment


def test_memory_past_its_bound_is_killed_and_the_comment_says_so(orca, monkeypatch):
    monkeypatch.setenv("ORCA_SANDBOX_MEMORY", "64MiB")
    results, comment = run_commands(orca, [
        "python3 -c \"b = b'x' * (256 << 20); print('ALLOCATED', len(b))\"; echo after"])
    assert "ALLOCATED 268435456" not in results[0] and "\nafter\n" in results[0]
    assert "[out of memory: the command's processes may use 64 MiB together" in results[0]
    assert "out of memory (64 MiB)" in comment


def test_a_listener_left_behind_is_neither_alive_nor_reachable(orca):
    port = free_port()
    marker = f"http.server {port}"
    results, comment = run_commands(orca, [
        (f"(setsid nohup python3 -m {marker} --bind 0.0.0.0 >/dev/null 2>&1 &); sleep 1; "
         f"{python(PROBE, f'127.0.0.1:{port}')}"),
        f"{python(PROBE, f'127.0.0.1:{port}')}\nps -eo args | grep -c '[h]ttp.server' || true",
    ], config=NETWORK)
    assert f"CONNECTED 127.0.0.1:{port}" in results[0]  # it was listening while it ran
    assert f"blocked 127.0.0.1:{port}" in results[1] and results[1].endswith("\n0")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit()
                and marker.replace(" ", "\0") in _cmdline(p)]
    assert comment.startswith("🤷")


def _cmdline(process: Path) -> str:
    try:
        return (process / "cmdline").read_text()
    except OSError:
        return ""


def test_network_reaches_neither_redis_nor_the_host_nor_private_ranges(
        orca, redis_server, canary, public_host):
    """`network: true`: before, the sandbox shared the worker's network, pushed an RQ job to
    Redis on loopback, and a worker ran it on the host."""
    listener = socket.create_server(("0.0.0.0", 0))
    port = listener.getsockname()[1]
    own = [*own_addresses(), public_host.near["public"]]
    far = [public_host.far[kind] for kind in ("private", "cgnat", "link-local")]
    try:
        results, comment = run_commands(orca, [
            python(PUSH_RQ_JOB, "127.0.0.1", redis_server.port, canary),
            python(PUSH_RQ_JOB, "10.0.2.2", redis_server.port, canary),
            python(PROBE, *[f"{address}:{port}" for address in own]),
            python(PROBE, *[f"{address}:80" for address in far], "169.254.169.254:80"),
        ], config=NETWORK)
    finally:
        listener.close()
    assert "redis unreachable" in results[0] and "redis unreachable" in results[1]
    assert "CONNECTED" not in results[2] + results[3]
    assert results[2].count("blocked") == len(own) and results[3].count("blocked") == 4
    assert comment.startswith("🤷")
    assert not orca.redis.exists("rq:job:evil")


def test_network_resolves_names_and_reaches_a_public_address(orca, public_host):
    """The positive case: a name resolves through the sandbox's DNS and its HTTP answers.

    The worker runs in a mount namespace whose /etc/resolv.conf names the test host's DNS
    server, standing in for the host's resolver (the sandbox itself names 10.0.2.3)."""
    def drain() -> None:
        subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
             'mount --bind "$0" /etc/resolv.conf && exec "$@"', str(public_host.resolv_conf),
             sys.executable, "-m", "app.cli", "worker", "--burst"],
            env=dict(os.environ), cwd=os.getcwd(), check=True, timeout=120,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    results, comment = run_commands(orca, [
        f"cat /etc/resolv.conf; getent hosts {public_host.name}",
        f"curl -sS -m 5 http://{public_host.name}/",
    ], config=NETWORK, drain=drain)
    assert "nameserver 10.0.2.3" in results[0]
    assert f"{public_host.far['public']} " in results[0]
    assert results[1] == public_host.answer
    assert comment.startswith("🤷")


def test_secrets_and_other_repositories_are_not_visible(orca):
    workdir = Path.cwd()
    marker = f"orca-secret-{secrets.token_hex(4)}"
    (workdir / ".env").write_text(f"ORCA_TEST_SECRET={marker}\n")
    (workdir / "orca.private-key.pem").write_text(f"-----BEGIN {marker}-----\n")
    other = orca.data_dir / "mirrors" / "other-org" / "private.git"
    other.mkdir(parents=True)
    (other / "HEAD").write_text(f"{marker}\n")
    results, comment = run_commands(orca, [
        f"cat {workdir}/.env {workdir}/orca.private-key.pem {other}/HEAD 2>&1",
        f"ls -a {orca.data_dir} {orca.data_dir}/mirrors {orca.data_dir}/mirrors/* 2>&1",
        (f"grep -rs {marker} / --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr "
         "--exclude-dir=dev; echo searched"),
    ])
    seen = "\n".join(results)
    assert marker not in seen and "searched" in results[2]
    assert "other-org" not in results[1]
    assert comment.startswith("🤷")


def test_a_command_reaches_neither_the_sessions_launcher_nor_the_next_command(orca):
    """As root, a session's commands start from one launcher (jobs.sandbox.launcher). The agent
    looks for it, leaves processes behind and signals every process it can: the launcher is not
    among what it sees, the next command starts all the same, and nothing left behind lives."""
    sleeper = f"sleep {40000 + secrets.randbelow(20000)}"
    results, comment = run_commands(orca, [
        (f"(setsid {sleeper} &); (nohup {sleeper} >/dev/null 2>&1 &); "
         "grep -l -a -s posix_spaw[n]p /proc/[0-9]*/cmdline; echo looked"),
        "kill -9 -1",
        f"ps -eo args | grep -c '^{sleeper}$'; echo next ran",
    ])
    assert "looked" in results[0] and "/proc/" not in results[0]
    assert "0\nnext ran" in results[2]
    assert not [pid for pid in os.listdir("/proc") if pid.isdigit()
                and sleeper.replace(" ", "\0") in _cmdline(pid)]
    assert comment.startswith("🤷")


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def test_a_network_the_worker_cannot_isolate_ends_the_run_with_a_comment(orca, monkeypatch):
    """No /dev/net/tun (a container without the device): the run stops before any command,
    naming the cause, instead of running with more or less network than it should."""
    import jobs.sandbox
    import jobs.sandbox.network
    monkeypatch.setattr(jobs.sandbox.network, "TUN", Path("/dev/net/tun-not-here"))
    jobs.sandbox.bubblewrap_problem.cache_clear()
    try:
        scene = make_scene(orca.github, files={"README.md": "# Hello\n", NETWORK[0]: NETWORK[1]})
        orca.deliver("issues", labeled_payload(orca.github, scene))
        orca.drain()
    finally:
        jobs.sandbox.bubblewrap_problem.cache_clear()
    [comment], _ = comments_on(orca.github, scene)
    assert comment.body.startswith(
        "❌ Orca's run failed: the worker cannot start its sandbox: the repository's config asks "
        "for the network, but /dev/net/tun-not-here is missing")
    assert "Ask the operators to fix the workers' sandbox" in comment.body
    assert orca.model.requests == []


def test_a_setup_command_past_a_bound_ends_the_run_naming_it(orca, monkeypatch):
    monkeypatch.setenv("ORCA_SANDBOX_TMP_SIZE", "1MiB")
    config = ".github/orca.yml", "setup:\n  - head -c 2M /dev/zero > /tmp/cache\n"
    scene = make_scene(orca.github, files={"README.md": "# Hello\n", config[0]: config[1]})
    orca.deliver("issues", labeled_payload(orca.github, scene))
    orca.drain()
    [comment], _ = comments_on(orca.github, scene)
    assert comment.body.startswith(
        "❌ Orca's run failed: the setup command `head -c 2M /dev/zero > /tmp/cache` failed "
        "(exit code 1; /tmp full (1 MiB)):")
    assert orca.model.requests == []
