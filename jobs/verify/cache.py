"""Test results at base commits, kept so later runs from the same commit do not run the tests
there again.

A result is kept per repository under a key made of the base commit, the test command, the
setup commands and the sandbox's toolchain (jobs.workspace.environments.toolchain): the same
code, the same way of running it, the same tools. Each is a small JSON file under
`ORCA_DATA_DIR/test-results/<repository id>/<key>.json`, on the worker's disk like the kept
environments whose toolchain it names, because a result with every test's outcome can run to
megabytes (too much for Redis's memory) and a miss costs only a run at the base. Bounded per
repository by count and bytes, the least recently used evicted first; a run that timed out or
ran into a sandbox bound is not kept, since the next one might not.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from jobs.verify.results import TestRun

log = logging.getLogger("orca.verify")

MAX_ENTRIES = 200
MAX_BYTES = 64 * 1024**2
# One result may take at most this share of the bound, so one huge suite cannot evict the rest.
_ENTRY_SHARE = 4


def result_key(base_sha: str, command: str, setup: Sequence[str], toolchain: str) -> str:
    payload = json.dumps({"base": base_sha, "command": command, "setup": list(setup),
                          "toolchain": toolchain})
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


class BaseResults:
    """One repository's test results at base commits."""

    def __init__(self, data_dir: Path, repository_id: int, max_entries: int = MAX_ENTRIES,
                 max_bytes: int = MAX_BYTES) -> None:
        self.root = data_dir.resolve() / "test-results" / str(int(repository_id))
        self.max_entries = max_entries
        self.max_bytes = max_bytes

    def get(self, key: str) -> TestRun | None:
        """The result kept under `key`, or None (none, or unreadable)."""
        path = self._path(key)
        try:
            with path.open("rb") as file:
                raw = file.read(self.max_bytes // _ENTRY_SHARE + 1)
            run = TestRun.from_json(json.loads(raw))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("unreadable base test result %s: %r", path, exc)
            return None
        os.utime(path)  # used: last to be evicted
        return run

    def put(self, key: str, run: TestRun) -> bool:
        """Keep `run` under `key`; False when it is not kept (a timeout, a bound, too large)."""
        if run.timed_out or run.bounds:
            return False
        raw = json.dumps(run.to_json()).encode()
        if len(raw) > self.max_bytes // _ENTRY_SHARE:
            return False
        path = self._path(key)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, scratch = tempfile.mkstemp(dir=self.root, prefix=".new-")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(raw)
                os.replace(scratch, path)  # whole or not at all, for concurrent readers
            finally:
                Path(scratch).unlink(missing_ok=True)
        except OSError as exc:  # a full disk costs a run at the base next time, nothing more
            log.warning("could not keep the base test result %s: %r", path, exc)
            return False
        self.evict()
        return True

    def evict(self) -> list[str]:
        """Remove the least recently used results until the rest fit both bounds."""
        entries = []
        for path in self.root.glob("*.json"):
            try:
                info = path.stat()
            except FileNotFoundError:
                continue
            entries.append((info.st_mtime, path.name, info.st_size))
        entries.sort()
        total = sum(size for _, _, size in entries)
        evicted = []
        while entries and (len(entries) > self.max_entries or total > self.max_bytes):
            _used, name, size = entries.pop(0)
            (self.root / name).unlink(missing_ok=True)
            total -= size
            evicted.append(name)
        return evicted

    def _path(self, key: str) -> Path:
        if not key.isalnum():
            raise ValueError(f"not a result key: {key!r}")
        return self.root / f"{key}.json"
