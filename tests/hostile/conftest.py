"""Attacks as a hostile agent, repository or visitor would make them, through real runs.

Each test drives a real run (or a real web request) against the fakes with real bubblewrap and
git, and asserts that the attack fails and that the run still ends with a comment. A host-side
execution is detected by a canary: a file on the host, outside every folder the sandbox can
see, that the attack's payload would write only if it ran outside the sandbox.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import orca  # noqa: F401  (the end-to-end harness, reused)


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A host path that only a command run outside the sandbox could create.

    The sandbox has a private /tmp and sees none of pytest's folders, so a write to this path
    from inside it lands nowhere on the host."""
    path = tmp_path / "canary" / "host-side-execution"
    path.parent.mkdir()
    yield path
    assert not path.exists(), f"an attack ran on the host: {path.read_text()!r}"
