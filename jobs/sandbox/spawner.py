"""The program a session's launcher runs (jobs.sandbox.launcher): as nobody, in the outer
bwrap that stages the session's paths, it starts each command's own bwrap when Orca asks.

It is not imported by Orca: its source is handed to `python3 -I -S -c` (standard library only,
no site, no environment), with the number of its end of a socket pair as the one argument.
Orca sends one request at a time, a datagram: the command line as JSON and, as SCM_RIGHTS,
where its output goes, then the fds it inherits at 3, 4, ... in order. The spawner answers
{"pid": ...} once the command's bwrap exists (in a session of its own, so Orca, root, can kill
its process group) and {"exit": ...} when it ends (negative for a signal, as in subprocess),
or {"error": ...} if it could not start. It reads nothing else and ends when Orca's end closes.
"""

import fcntl
import json
import os
import socket
import sys

ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
MAX_FDS = 16
HIGH = 100
"""Received fds are moved at or above this before being placed at 1, 2, 3...: no clash."""


def main(fd: int) -> None:
    channel = socket.socket(fileno=fd)
    channel.set_inheritable(False)
    null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(channel, 1 << 20, MAX_FDS)
        except OSError:
            return
        if not data:
            return
        fds = [_high(fd) for fd in fds]
        try:
            argv = json.loads(data)["argv"]
            pid = os.posix_spawnp(argv[0], argv, ENV, setsid=True,
                                  file_actions=_placed(null, fds))
        except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
            _send(channel, {"error": f"{type(error).__name__}: {error}"})
            continue
        finally:
            for received in fds:
                os.close(received)
        _send(channel, {"pid": pid})
        _, status = os.waitpid(pid, 0)
        _send(channel, {"exit": os.waitstatus_to_exitcode(status)})


def _high(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, HIGH)
    os.close(fd)
    return moved


def _placed(null: int, fds: list) -> list:
    """stdin from /dev/null, stdout and stderr to the first fd, the rest at 3, 4, ..."""
    if not fds:
        raise ValueError("no output fd")
    actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, fds[0], 1),
               (os.POSIX_SPAWN_DUP2, fds[0], 2)]
    return actions + [(os.POSIX_SPAWN_DUP2, fd, 3 + i) for i, fd in enumerate(fds[1:])]


def _send(channel: socket.socket, message: dict) -> None:
    try:
        channel.send(json.dumps(message).encode())
    except OSError:
        sys.exit(0)  # Orca's end is gone: so is this session


if __name__ == "__main__":
    main(int(sys.argv[1]))
