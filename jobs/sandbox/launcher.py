"""A session's launcher: when Orca is root, the outer bwrap and setpriv that every sandboxed
command went through (jobs.sandbox.user) are started once per session instead of once per
command, and start each command's own bwrap from there.

Why: as root a command's start was a shell joining its cgroup, the outer bwrap staging the
session's paths, setpriv becoming nobody, then the command's bwrap and shells. The first
three were about 3.7 of the ~5-7 ms of CPU a command cost (bench/README.md, "per-turn
CPU"), paid on every turn of every run for the same session paths.

What stays per command is all of its isolation: its own bwrap, so its own user, PID, network,
IPC and mount namespaces, a fresh /tmp, and nothing it leaves behind outliving it (bwrap's
PID namespace ends with its shell). The launcher is outside every command's sandbox: a nobody
process of the host's PID and network namespaces that no command can name, signal or reach,
and it reads nothing but Orca's requests on an unnamed socket pair. It runs
jobs.sandbox.spawner's source with the system's Python (`-I -S`: no environment, no site).

The session's cgroup (jobs.sandbox.cgroup) holds the launcher and whichever command runs;
commands run one at a time, so what the group refused during a command is its counters'
change across it. A command past its timeout or stopped is killed with the launcher and the
whole group, as before; the next command starts a new launcher. So does any launcher that died.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from core.errors import SandboxUnavailable
from jobs.sandbox import spawner
from jobs.sandbox.argv import CLEAN_ENV, joining
from jobs.sandbox.cgroup import CommandCgroup
from jobs.sandbox.process import CommandResult, capture, result_of
from jobs.sandbox.user import outer_argv

log = logging.getLogger("orca.sandbox")

_SOURCE = Path(spawner.__file__).read_text()
_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")
_START_SECONDS = 30.0
"""How long the launcher and a command's bwrap may take to start."""
_STOP_CHECK_SECONDS = 0.25
_CLOSE_SECONDS = 1.0
"""How long a launcher whose socket closed has to exit before it is killed."""
_SAID_BYTES = 500
"""How much of the end of the launcher's stderr an error quotes."""
FIRST_FD = 3
"""Where a launched command finds the fds it inherits, in the order they were given."""


@functools.cache
def launcher_python() -> str | None:
    """A Python interpreter nobody can run (every directory on its way and the file itself
    open to others), or None: then commands start the old way, each with its own outer bwrap."""
    for candidate in (*_PYTHONS, getattr(sys, "_base_executable", sys.executable)):
        path = os.path.realpath(candidate)
        if _open_to_others(path):
            return path
    log.info("no Python interpreter that nobody may run: each sandboxed command starts alone")
    return None


def _open_to_others(path: str) -> bool:
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode) or not mode & stat.S_IXOTH:
            return False
        parent = os.path.dirname(path)
        while parent != "/":
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                return False
            parent = os.path.dirname(parent)
    except OSError:
        return False
    return True


class LauncherGone(Exception):
    """The launcher ended before answering."""


class Launcher:
    """One session's launcher over `sources` (staged as jobs.sandbox.user stages them), in
    the session's `cgroup`; started at the first `run`, ended by `close`."""

    def __init__(self, sources: Sequence[Path], cgroup: CommandCgroup, python: str) -> None:
        self.sources = list(sources)
        self.cgroup = cgroup
        self.python = python
        self._proc: subprocess.Popen[bytes] | None = None
        self._channel: socket.socket | None = None
        self._errors: IO[bytes] | None = None
        self._lock = threading.Lock()
        self.starts = 0
        """How many launchers this session started (one, unless one was killed or died)."""

    def run(self, argv: Sequence[str], fds: Sequence[int], *, timeout: float, max_output: int,
            stop: threading.Event | None, keep: int, on_start: Callable[[], None],
            ) -> CommandResult:
        """Runs the command's bwrap command line `argv`, which finds `fds` at FIRST_FD, ...;
        `on_start` once it exists. Kills it (and this launcher) past `timeout` or at `stop`."""
        with self._lock:
            self.cgroup.mark()  # what the group refuses from here on is this command's
            output, child_out = os.pipe()
            try:
                pid = self._start_command(argv, [child_out, *fds])
            except BaseException:
                os.close(output)
                raise
            finally:
                os.close(child_out)
            try:
                on_start()
            except BaseException:
                self._kill(pid)
                os.close(output)
                raise
            exit_code: list[int] = []
            try:
                finished, text, whole = capture(
                    output, deadline=time.monotonic() + timeout,
                    finish=lambda deadline: self._wait_exit(deadline, stop, exit_code),
                    kill=lambda: self._kill(pid), stop=stop, max_output=max_output, keep=keep)
            finally:
                os.close(output)
            if finished:
                self._leftovers(pid)
            return result_of(text, whole, exit_code[0] if finished else None, keep)

    def close(self) -> None:
        """Ends the launcher (its socket closes: it exits) and anything left in its group."""
        with self._lock:
            self._end(wait=_CLOSE_SECONDS)

    # -- the launcher --------------------------------------------------------------------------

    def _start_command(self, argv: Sequence[str], fds: Sequence[int]) -> int:
        """Sends the request (starting a launcher first if there is none alive) and returns the
        command's pid; a launcher that died before answering is replaced once."""
        for attempt in (1, 2):
            if self._channel is None:
                self._start()
            assert self._channel is not None
            try:
                socket.send_fds(self._channel, [json.dumps({"argv": list(argv)}).encode()],
                                list(fds))
                answer = self._receive(time.monotonic() + _START_SECONDS, None)
            except (OSError, LauncherGone) as error:
                said = self._said()
                self._end()
                if attempt == 2:
                    raise SandboxUnavailable(
                        f"the sandbox's launcher ended before starting a command ({error})"
                        + (f": {said}" if said else ""),
                    ) from error
                continue
            if "pid" in answer:
                return int(answer["pid"])
            raise SandboxUnavailable(f"the sandbox could not start a command: {answer}")
        raise AssertionError("unreachable")

    def _start(self) -> None:
        if self.starts:
            log.info("starting the session's sandbox launcher again: the last one was killed "
                     "(a command's timeout or stop) or died; %d so far", self.starts)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [*outer_argv(self.sources), self.python, "-I", "-S", "-c", _SOURCE,
                str(theirs.fileno())]
        if not self.cgroup.created:
            self.cgroup.create()
        argv = joining(self.cgroup, argv)
        errors = tempfile.TemporaryFile()  # noqa: SIM115 (kept while the launcher lives)
        try:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                env=dict(CLEAN_ENV), cwd="/", start_new_session=True, pass_fds=[theirs.fileno()])
        except OSError:
            ours.close()
            errors.close()
            raise
        finally:
            theirs.close()
        self._channel, self._errors = ours, errors
        self.starts += 1

    def _receive(self, deadline: float, stop: threading.Event | None) -> dict:
        """The launcher's next answer; TimeoutError when the deadline or a stop came first,
        LauncherGone when it ended."""
        assert self._channel is not None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or stop is not None and stop.is_set():
                raise TimeoutError
            ready, _, _ = select.select([self._channel], [], [],
                                        min(remaining, _STOP_CHECK_SECONDS))
            if not ready:
                continue
            data = self._channel.recv(4096)
            if not data:
                raise LauncherGone("its socket closed")
            return json.loads(data)

    def _wait_exit(self, deadline: float, stop: threading.Event | None,
                   exit_code: list[int]) -> bool:
        """Waits for the command's exit; True with its code, False at the deadline or a stop.
        A launcher that died took the command with it (its bwrap dies with its parent)."""
        try:
            answer = self._receive(deadline, stop)
        except TimeoutError:
            return False
        except (OSError, LauncherGone, ValueError):
            self._end()
            exit_code.append(-signal.SIGKILL)
            return True
        exit_code.append(int(answer.get("exit", -signal.SIGKILL)))
        return True

    def _said(self) -> str:
        """The end of what the launcher (bwrap, setpriv, Python) wrote to its stderr."""
        if self._errors is None:
            return ""
        self._errors.seek(0)
        return self._errors.read()[-_SAID_BYTES:].decode("utf-8", "replace").strip()

    def _kill(self, pid: int) -> None:
        """Kills the command's group, then the launcher and all its group: the next command
        starts a new one."""
        _kill_group(pid)
        self._end()

    def _leftovers(self, pid: int) -> None:
        """Whatever of the finished command is left dies (nothing, normally: its PID namespace
        ended with its shell): all of the group but the launcher's own process group."""
        _kill_group(pid)
        if self._proc is not None:
            self.cgroup.kill_all(keep_group=self._proc.pid)

    def _end(self, wait: float = 0) -> None:
        """Ends the launcher: with `wait`, it may first exit by itself (its socket closed)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
            _kill_group(self._proc.pid)
            self.cgroup.kill_all()
            self._proc.wait()
            self._proc = None
        if self._errors is not None:
            self._errors.close()
            self._errors = None


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
