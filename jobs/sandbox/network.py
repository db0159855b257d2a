"""Egress for a sandboxed command that may use the network: the internet, and nothing of ours.

Every command runs in a network namespace of its own (bwrap --unshare-net). When the
repository's config allows the network, Orca gives that namespace a way out before the
command starts, in this order (bwrap holds the command on --block-fd meanwhile):

1. bwrap reports the sandbox's pid on --json-status-fd, and sets up its loopback;
2. slirp4netns joins the namespace and plugs a user-mode TCP/IP stack into it (tap0,
   10.0.2.100, gateway 10.0.2.2, DNS 10.0.2.3), with --disable-host-loopback so the gateway
   does not lead to the host's 127.0.0.1;
3. nftables rules in the namespace refuse every destination that is not the internet:
   private, CGNAT, link-local (cloud metadata) and loopback ranges, and the host's own
   addresses, which slirp4netns would otherwise connect to from the host. Only DNS to
   10.0.2.3 is let through, which slirp4netns answers with the host's resolver;
4. Orca releases the command.

The command holds no capability, so it cannot change the rules. Anything that fails stops the
command before it runs: a command never gets the network without the rules. FACTS-next.md
("Sandbox") has the measurements behind this.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

SLIRP_DNS = "10.0.2.3"
RESOLV_CONF = f"nameserver {SLIRP_DNS}\n"
SLIRP4NETNS = "slirp4netns"
TOOLS = (SLIRP4NETNS, "nft", "nsenter")
TUN = Path("/dev/net/tun")
# Never reachable from a sandbox: RFC 1918 private, RFC 6598 CGNAT, RFC 3927 link-local (cloud
# metadata at 169.254.169.254), loopback, "this network", multicast and reserved; IPv6
# loopback, unique-local (RFC 4193) and link-local.
REFUSED = ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
           "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/3", "::/127", "fc00::/7", "fe80::/10")
# Setting up takes milliseconds (measured: about 20 ms in all); this is for a loaded machine.
SETUP_SECONDS = 10.0
_NS_GET_USERNS = 0xB701  # ioctl_ns(2): the user namespace that owns a namespace fd's namespace
_POLL_SECONDS = 0.002


class EgressFailed(Exception):
    """The command's network could not be set up; the message says why."""


def egress_problem(tun: Path | None = None, path: str = "/usr/sbin:/usr/bin:/sbin:/bin"
                   ) -> str | None:
    """Why this machine cannot give a sandbox egress, or None."""
    tun = tun or TUN
    missing = [tool for tool in TOOLS if shutil.which(tool, path=path) is None]
    if missing:
        return (f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed "
                "(Debian packages slirp4netns, nftables, util-linux)")
    if not tun.exists():
        return f"{tun} is missing (with Docker, give the worker the device: see compose.yaml)"
    return None


def rules(own_addresses: list[str]) -> str:
    """The nftables ruleset for a sandbox's namespace, refusing REFUSED and `own_addresses`."""
    fixed = [ipaddress.ip_network(block) for block in REFUSED]
    own = sorted({a for a in map(ipaddress.ip_address, own_addresses)
                  if not any(a in block for block in fixed)}, key=lambda a: (a.version, a))
    lines = ["table inet orca_sandbox {", "  chain egress {",
             "    type filter hook output priority 0; policy accept;",
             '    oif "lo" accept',
             f"    ip daddr {SLIRP_DNS} udp dport 53 accept",
             f"    ip daddr {SLIRP_DNS} tcp dport 53 accept"]
    for version, family in ((4, "ip"), (6, "ip6")):
        blocks = [str(b) for b in fixed if b.version == version]
        blocks += [str(a) for a in own if a.version == version]
        lines.append(f"    {family} daddr {{ {', '.join(blocks)} }} reject")
    return "\n".join([*lines, "  }", "}", ""])


def own_addresses() -> list[str]:
    """The host's own addresses, IPv4 from the kernel's local routes and IPv6 from its
    interfaces; slirp4netns connects from the host, so each of them leads to its listeners."""
    found = []
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
    except OSError:
        lines = []
    for before, line in zip(lines, lines[1:]):
        if "/32 host LOCAL" in line:
            found.append(before.split()[-1])
    try:
        inet6 = Path("/proc/net/if_inet6").read_text().splitlines()
    except OSError:
        inet6 = []
    for line in inet6:
        hexa = line.split()[0]
        found.append(str(ipaddress.IPv6Address(int(hexa, 16))))
    return sorted(set(found))


class Egress:
    """The way out for one command: made by start(), taken away by close()."""

    def __init__(self) -> None:
        self._status_read, self.status_fd = os.pipe()
        self.block_fd, self._block_write = os.pipe()
        self._fds: list[int] = []
        self._child_fds_open = True
        self._slirp: subprocess.Popen | None = None
        self._exit_write: int | None = None
        self._log = tempfile.TemporaryFile()
        self.seconds = 0.0
        """How long start() took, for the logs."""

    def child_fds(self) -> list[int]:
        """The fds bwrap needs: --json-status-fd, --block-fd. Close them here once it started."""
        return [self.status_fd, self.block_fd]

    def started(self, bwrap: subprocess.Popen) -> None:
        """Give the sandbox bwrap just started its network, then let its command run."""
        began, deadline = time.monotonic(), time.monotonic() + SETUP_SECONDS
        self._close_child_fds()
        pid = self._child_pid(bwrap, deadline)
        netns = self._open(f"/proc/{pid}/ns/net")
        self._wait_for_loopback(bwrap, pid, deadline)
        try:
            userns = fcntl.ioctl(netns, _NS_GET_USERNS)
        except OSError as error:
            raise EgressFailed(f"cannot find the sandbox's user namespace: {error}") from None
        self._fds.append(userns)
        self._start_slirp(netns, userns, deadline)
        self._load_rules(netns, userns)
        os.write(self._block_write, b"1")
        self.seconds = time.monotonic() - began

    def close(self) -> None:
        """Stops slirp4netns and closes every fd; safe to call whatever happened before."""
        if self._exit_write is not None:
            os.close(self._exit_write)  # --exit-fd: slirp4netns exits when this closes
            self._exit_write = None
        if self._slirp is not None:
            try:
                self._slirp.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._slirp.kill()
                self._slirp.wait()
        self._close_child_fds()
        for fd in [self._status_read, self._block_write, *self._fds]:
            os.close(fd)
        self._fds = []
        self._log.close()

    def _close_child_fds(self) -> None:
        """Our copies of bwrap's ends, once bwrap has its own (or will never start); once
        only, as another thread may have been given the same numbers since."""
        if self._child_fds_open:
            self._child_fds_open = False
            for fd in self.child_fds():
                os.close(fd)

    def _child_pid(self, bwrap: subprocess.Popen, deadline: float) -> int:
        line = _read_line(self._status_read, deadline)
        try:
            return int(json.loads(line)["child-pid"])
        except (ValueError, KeyError, TypeError):
            bwrap.poll()
            raise EgressFailed("bubblewrap did not start the sandbox") from None

    def _open(self, path: str) -> int:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as error:
            raise EgressFailed(f"cannot open {path}: {error.strerror}") from None
        self._fds.append(fd)
        return fd

    def _wait_for_loopback(self, bwrap: subprocess.Popen, pid: int, deadline: float) -> None:
        """bwrap adds 127.0.0.1 to lo after reporting the pid; slirp4netns also brings lo up,
        and doing both at once fails bwrap's netlink request (EEXIST)."""
        while True:
            try:
                if "127.0.0.1" in Path(f"/proc/{pid}/net/fib_trie").read_text():
                    return
            except OSError:
                pass
            if bwrap.poll() is not None or time.monotonic() > deadline:
                raise EgressFailed("the sandbox's loopback did not come up")
            time.sleep(_POLL_SECONDS)

    def _start_slirp(self, netns: int, userns: int, deadline: float) -> None:
        ready_read, ready_write = os.pipe()
        exit_read, self._exit_write = os.pipe()
        # --mtu=65520, as slirp4netns(1)'s example: near its maximum (65521), far fewer packets.
        argv = [SLIRP4NETNS, "--configure", "--mtu=65520", "--disable-host-loopback",
                "--enable-sandbox", "--enable-seccomp", f"--ready-fd={ready_write}",
                f"--exit-fd={exit_read}", "--netns-type=path",
                f"--userns-path=/proc/self/fd/{userns}", f"/proc/self/fd/{netns}", "tap0"]
        try:
            self._slirp = subprocess.Popen(
                argv, pass_fds=(ready_write, exit_read, netns, userns),
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                start_new_session=True)
        except OSError as error:
            raise EgressFailed(f"cannot start slirp4netns: {error}") from None
        finally:
            os.close(ready_write)
            os.close(exit_read)
        try:
            ready = _read_line(ready_read, deadline, size=1)
        finally:
            os.close(ready_read)
        if ready != "1":
            raise EgressFailed(f"slirp4netns failed: {self._log_tail()}")

    def _load_rules(self, netns: int, userns: int) -> None:
        # As root, joining the network namespace is enough; otherwise the rules need the
        # capabilities we hold in the user namespace that owns it.
        joins = [f"--net=/proc/self/fd/{netns}"]
        if os.geteuid() != 0:
            joins = [f"--user=/proc/self/fd/{userns}", "--preserve-credentials", *joins]
        try:
            done = subprocess.run(["nsenter", *joins, "nft", "-f", "-"],
                                  input=rules(own_addresses()), text=True, capture_output=True,
                                  pass_fds=(netns, userns), timeout=SETUP_SECONDS)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise EgressFailed(f"cannot load the network rules: {error}") from None
        if done.returncode != 0:
            raise EgressFailed(f"nft refused the rules: {done.stderr.strip()[-300:]}")

    def _log_tail(self) -> str:
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace").strip()
        return text[-300:] or "it exited without saying why"


def _read_line(fd: int, deadline: float, size: int = 4096) -> str:
    """Reads up to a newline (or `size` bytes) from fd before the deadline; "" on EOF/time."""
    data = b""
    while b"\n" not in data and len(data) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            return ""
        chunk = os.read(fd, size - len(data))
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace").strip()
