"""A stand-in for the internet, on this machine: a network namespace behind a veth pair.

The machine is offline, and tests may only send traffic to addresses on it, so the sandbox's
positive network case needs a "public" host of its own. This one lives in a network namespace
of its own, reached from the host over a veth pair, with:

- a public-range address (TEST-NET-2, 198.51.100.0/24, RFC 5737) serving HTTP on port 80 (a
  fixed answer, or the files of a directory: tests/package_index.py serves a package index so)
  and answering DNS on port 53 for one name;
- one address in each range the sandbox must not reach (private 10/8, CGNAT 100.64/10,
  link-local 169.254/16), serving the same HTTP, so that a refused probe proves a rule and
  not an empty address.

The host's end of the veth holds addresses too: those are the host's own, public-range one
included. Each fixture takes a random /30 in each range, so two test sessions can run at once.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

NAME = "registry.orca-test.example"
ANSWER = "hello from the public test host"
# The first three octets of each /30, the fourth comes from the slot; host end .1, far end .2.
RANGES = {"public": "198.51.100", "private": "10.254.77", "cgnat": "100.64.77",
          "link-local": "169.254.77"}

SERVER = r'''
import functools, socket, struct, sys, threading
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer

name, address, answer = sys.argv[1], sys.argv[2], sys.argv[3].encode()
directory = sys.argv[4] if len(sys.argv) > 4 else None
print("in a network namespace of its own", flush=True)
sys.stdin.readline()  # until the host has plugged the veth in and given it its addresses

class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
    def log_message(self, *args):
        pass

class Files(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

def dns():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 53))
    while True:
        query, peer = sock.recvfrom(512)
        labels, at = [], 12
        while query[at]:
            labels.append(query[at + 1:at + 1 + query[at]].decode().lower())
            at += 1 + query[at]
        qtype = struct.unpack("!H", query[at + 1:at + 3])[0]
        question = query[12:at + 5]
        found = ".".join(labels) == name
        header = query[:2] + struct.pack("!HHHHH", 0x8180 if found else 0x8183, 1,
                                          1 if found and qtype == 1 else 0, 0, 0)
        record = b""
        if found and qtype == 1:
            record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(address)
        sock.sendto(header + question + record, peer)

threading.Thread(target=dns, daemon=True).start()
handler = functools.partial(Files, directory=directory) if directory else Hello
ThreadingHTTPServer(("0.0.0.0", 80), handler).serve_forever()
'''


@dataclass(frozen=True)
class PublicHost:
    """The namespace's addresses, and what a probe of them should see."""

    far: dict[str, str]
    """Addresses in the namespace, by range name ("public", "private", "cgnat", "link-local")."""
    near: dict[str, str]
    """The host's own ends of the same /30s."""
    resolv_conf: Path
    """A resolv.conf naming the namespace's DNS server."""
    name: str = NAME
    answer: str = ANSWER


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")


def _reachable(address: str, port: int = 80) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def namespace_problem() -> str | None:
    """Why a public host cannot be stood up here, or None."""
    if os.geteuid() != 0 or not all(map(shutil.which, ("ip", "unshare", "nsenter"))):
        return "a network namespace needs root, iproute2 and util-linux"
    return None


def require_namespaces() -> None:
    """Skips the calling test where a public host cannot be stood up; fails it under CI."""
    if (problem := namespace_problem()) is not None:
        if os.environ.get("CI"):  # .ci/run runs as root and installs both: never hide it
            pytest.fail(f"{problem}, which CI must have")
        pytest.skip(problem)


@contextmanager
def stand_up(scratch: Path, serve: Path | None = None) -> Iterator[PublicHost]:
    """A live PublicHost answering HTTP with ANSWER, or with the files under `serve`; its
    resolv.conf is written in `scratch`. Everything it made is removed afterwards.

    The namespace is the server process's own (`unshare --net`), not a named one: named ones
    live as bind mounts under /run/netns, shared by every session on the machine, and with
    other sessions' tests running, one in a few hundred vanished between two `ip -n` calls
    ("setting the network namespace ... failed: Invalid argument"). This one ends with the
    server, and the veth pair with it.
    """
    tag = secrets.token_hex(3)
    near_link, far_link = f"orcah{tag}", f"orcan{tag}"
    slot = 4 * secrets.randbelow(63)  # a /30 in each range: .slot+1 here, .slot+2 there
    near = {kind: f"{prefix}.{slot + 1}" for kind, prefix in RANGES.items()}
    far = {kind: f"{prefix}.{slot + 2}" for kind, prefix in RANGES.items()}
    server = subprocess.Popen(
        ["unshare", "--net", "--", sys.executable, "-c", SERVER, NAME, far["public"], ANSWER,
         *([str(serve)] if serve is not None else [])],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout.readline(), "the public test host's server did not start"
        _link(server.pid, near_link, far_link, near, far)
        server.stdin.write("go\n")
        server.stdin.close()
        deadline = time.monotonic() + 10
        while not all(_reachable(address) for address in far.values()):
            assert time.monotonic() < deadline, "the public test host did not come up"
            time.sleep(0.05)
        resolv_conf = scratch / "resolv.conf"
        resolv_conf.write_text(f"nameserver {far['public']}\n")
        yield PublicHost(far, near, resolv_conf)
    finally:
        server.kill()
        server.wait()
        server.stdin.close()
        server.stdout.close()
        subprocess.run(["ip", "link", "del", near_link], capture_output=True)


def _link(pid: int, near_link: str, far_link: str, near: dict[str, str],
          far: dict[str, str]) -> None:
    """The veth pair between the host and process `pid`'s network namespace, with each
    range's /30 on it."""
    inside = ["nsenter", f"--net=/proc/{pid}/ns/net", "ip"]
    _run("ip", "link", "add", near_link, "type", "veth", "peer", "name", far_link)
    _run("ip", "link", "set", far_link, "netns", str(pid))
    for kind in RANGES:
        _run("ip", "addr", "add", f"{near[kind]}/30", "dev", near_link)
        _run(*inside, "addr", "add", f"{far[kind]}/30", "dev", far_link)
    _run("ip", "link", "set", near_link, "up")
    _run(*inside, "link", "set", far_link, "up")
    _run(*inside, "link", "set", "lo", "up")


@pytest.fixture
def public_host(tmp_path: Path) -> Iterator[PublicHost]:
    """A live PublicHost; everything it made is removed afterwards."""
    require_namespaces()
    with stand_up(tmp_path) as host:
        yield host


def own_addresses() -> list[str]:
    """The host's own IPv4 addresses outside 127/8, from the kernel's local routes."""
    lines = Path("/proc/net/fib_trie").read_text().splitlines()
    found = {lines[i - 1].split()[-1] for i, line in enumerate(lines)
             if "/32 host LOCAL" in line and i > 0}
    return sorted(a for a in found if not a.startswith("127."))
