"""Running git with credentials that never touch the disk.

The installation token travels as an `http.extraHeader` passed through the
environment (GIT_CONFIG_COUNT/KEY/VALUE), so it is neither in `.git/config`, where
the agent could read it, nor on the process list.
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

from jobs.errors import WorkspaceError

# Fetching a large repository over a slow link can take minutes; a hung one must end.
GIT_TIMEOUT = 600


def auth_env(token: str | None) -> dict[str, str]:
    """Environment for one git command: a clean base plus the token as an extra header."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    if token:
        # GitHub takes Basic x-access-token:<token> for installation tokens over HTTPS.
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env.update(
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0="http.extraHeader",
            GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
        )
    return env


def git(*args: str, cwd: Path, token: str | None = None, check: bool = True,
        timeout: float = GIT_TIMEOUT) -> str:
    """Run one git command and return its stdout; WorkspaceError on failure.

    The token, if any, is scrubbed from the error message.
    """
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, env=auth_env(token), capture_output=True,
            text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise WorkspaceError(f"git {args[0]} timed out after {timeout:.0f} s") from exc
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        message = " ".join(detail)
        if token:
            message = message.replace(token, "***")
        raise WorkspaceError(f"git {args[0]} failed: {message}")
    return done.stdout
