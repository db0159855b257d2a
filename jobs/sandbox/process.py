"""Run one process with a wall-clock timeout and capture its output, keeping head and tail.

Shared by both sandboxes: the caller builds the command line and the clean environment, this module
owns waiting, killing and output capping. stdout and stderr arrive through one pipe so their
order is kept.
"""

from __future__ import annotations

import codecs
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jobs.sandbox.bounds import BoundHit

# How long to keep reading after the kill: long enough to drain what the killed processes already
# wrote into the pipe, short enough that a process that escaped the kill cannot hold us.
_DRAIN_AFTER_KILL_SECONDS = 1.0
_READ_CHUNK = 65536
# How often a waiting command looks at its stop flag.
_STOP_CHECK_SECONDS = 0.25


@dataclass
class CommandResult:
    """What a command left behind: its (possibly cut) output and how it ended."""

    output: str
    """stdout and stderr merged in the order written; cut in the middle when over the cap."""
    exit_code: int | None
    """The exit status (negative for a signal, as in subprocess); None when it timed out."""
    timed_out: bool
    """True when the command ran past its timeout and its processes were killed."""
    truncated: bool
    """True when the middle of the output was cut to respect max_output."""
    bounds: tuple[BoundHit, ...] = ()
    """The sandbox's bounds the command ran into (out of memory, /tmp full...)."""
    size: int = 0
    """Bytes of output in all."""
    whole: bytes | None = None
    """The raw output up to the cap asked for (`keep`), when `output` was cut."""
    kept: str | None = None
    """Where the command's later neighbours find `whole` (jobs.sandbox.scratch), if kept."""


class HeadTail:
    """Accumulates decoded text, keeping only the first and last characters of a long stream.

    Memory stays bounded by max_output whatever the command prints, which matters for
    `yes` or a runaway log loop.
    """

    def __init__(self, max_output: int) -> None:
        self._head_cap = max_output // 2
        self._tail_cap = max_output - self._head_cap
        self._head = ""
        self._tail = ""
        self._total = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes, final: bool = False) -> None:
        """Adds raw bytes from the pipe; invalid UTF-8 becomes U+FFFD."""
        text = self._decoder.decode(data, final)
        self._total += len(text)
        room = self._head_cap - len(self._head)
        if room > 0:
            self._head += text[:room]
            text = text[room:]
        if text and self._tail_cap:
            self._tail = (self._tail + text)[-self._tail_cap :]

    @property
    def truncated(self) -> bool:
        """Whether characters were dropped from the middle."""
        return self._total > len(self._head) + len(self._tail)

    def text(self) -> str:
        """The kept text, with a marker saying how much was cut from the middle."""
        cut = self._total - len(self._head) - len(self._tail)
        if cut <= 0:
            return self._head + self._tail
        return f"{self._head}\n[... {cut} characters cut ...]\n{self._tail}"


class Whole:
    """The raw bytes of a stream up to `cap`, and how many there were in all."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]


def run_captured(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: str,
    timeout: float,
    max_output: int,
    on_timeout: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
    pass_fds: Sequence[int] = (),
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
    keep: int = 0,
) -> CommandResult:
    """Runs argv in a new session, killing its whole process group at the timeout.

    `on_timeout` is called after the group is killed, for sandboxes that know of processes
    outside the group (a cgroup, a PID namespace). Setting `stop` ends the command as if its
    time were up: the run it belongs to was asked to stop. `on_start` is called once the
    process exists, before its output is read; if it raises, the process is killed as at a
    timeout and the exception goes to the caller. With `keep`, an output cut to max_output
    also comes back whole, up to `keep` bytes (`CommandResult.whole`).
    """
    # start_new_session makes the child a process-group leader, so one killpg reaches every
    # descendant that did not itself call setsid. No preexec_fn, ever: with one, Python must
    # fork the whole worker rather than vfork (jobs.sandbox says what is done instead).
    proc = subprocess.Popen(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=env, cwd=cwd, start_new_session=True, pass_fds=pass_fds,
    )
    assert proc.stdout is not None

    def kill() -> None:
        _kill_group(proc)
        if on_timeout is not None:
            on_timeout()

    if on_start is not None:
        try:
            on_start(proc)
        except BaseException:
            kill()
            proc.stdout.close()
            proc.wait()
            raise
    with proc.stdout:
        finished, output, whole = capture(
            proc.stdout.fileno(), deadline=time.monotonic() + timeout,
            finish=lambda deadline: _wait_until(proc, deadline, stop), kill=kill, stop=stop,
            max_output=max_output, keep=keep)
    exit_code = proc.wait()
    if finished:
        _kill_group(proc)  # background processes the command left behind die with it
    return result_of(output, whole, exit_code if finished else None, keep)


def capture(fd: int, *, deadline: float, finish: Callable[[float], bool],
            kill: Callable[[], None], stop: threading.Event | None, max_output: int,
            keep: int) -> tuple[bool, HeadTail, Whole]:
    """Reads a command's output from `fd` until EOF, then `finish(deadline)` waits for its
    exit (True once it exited); past the deadline or at a stop, `kill()` and a short drain.
    Returns whether it finished, and its output as kept for the model and whole (`keep`)."""
    output, whole = HeadTail(max_output), Whole(keep)

    def feed(chunk: bytes) -> None:
        output.feed(chunk)
        whole.feed(chunk)

    finished = _read_until(fd, feed, deadline, stop)
    if finished:
        finished = finish(deadline)
    if not finished:
        kill()
        _read_until(fd, feed, time.monotonic() + _DRAIN_AFTER_KILL_SECONDS)
    output.feed(b"", final=True)
    return finished, output, whole


def result_of(output: HeadTail, whole: Whole, exit_code: int | None, keep: int) -> CommandResult:
    """The CommandResult of a captured command; `exit_code` None when it was killed."""
    return CommandResult(
        output=output.text(),
        exit_code=exit_code,
        timed_out=exit_code is None,
        truncated=output.truncated,
        size=whole.size,
        whole=bytes(whole.data) if keep and output.truncated else None,
    )


def _read_until(fd: int, feed: Callable[[bytes], None], deadline: float,
                stop: threading.Event | None = None) -> bool:
    """Reads fd into `feed` until EOF (True) or the deadline or a stop (False)."""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or stop is not None and stop.is_set():
                return False
            if not selector.select(min(remaining, _STOP_CHECK_SECONDS)):
                continue
            chunk = os.read(fd, _READ_CHUNK)
            if not chunk:
                return True
            feed(chunk)


def _wait_until(proc: subprocess.Popen[bytes], deadline: float,
                stop: threading.Event | None = None) -> bool:
    """Waits for exit after EOF: a command may close its output and keep running."""
    while stop is None or not stop.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            proc.wait(timeout=min(remaining, _STOP_CHECK_SECONDS))
            return True
        except subprocess.TimeoutExpired:
            continue
    return False


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILLs the child's process group; the group may already be gone."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
